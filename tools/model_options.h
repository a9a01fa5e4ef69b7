#pragma once
// The model flags that kiln's subcommands share: --config and its overrides, graph sizes.

#include "frontend/transformer.h"

#include <CLI/CLI.hpp>

#include <map>
#include <string>

namespace kiln::tools {

/// Flags that pick and adjust a Transformer configuration.
struct ModelFlags {
  std::string config = "tiny";
  bool config_given = false; ///< --config on the command line (set when parsed)
  std::optional<int64_t> d_model, heads, ffn, layers, encoder_layers, decoder_layers, vocab;
  std::optional<double> label_smoothing;
  bool pre_norm = false, gelu = false, tie_generator = false;
  std::optional<int64_t> pad_id, bos_id, eos_id, unk_id;

  /// Registers the flags on a subcommand.
  void add(CLI::App &app);
  /// The preset with every override applied.
  TransformerConfig resolve() const;
  /// The model of the checkpoint at `path` whose metadata is `meta`, when it records one
  /// (configMetadata): a flag that asks for another value is an Error naming both. Otherwise
  /// (a plain safetensors file) the model of the flags.
  TransformerConfig resolveFor(const std::map<std::string, std::string> &meta,
                               const std::string &path) const;
};

/// The model as checkpoint metadata (kiln.model.d_model, ..., the label smoothing and the token
/// ids), so that a checkpoint says which model it holds.
std::map<std::string, std::string> configMetadata(const TransformerConfig &cfg);
/// Whether the metadata describes a model (configMetadata wrote it).
bool describesModel(const std::map<std::string, std::string> &meta);
/// The model that configMetadata wrote into the metadata of the file at `path`; an Error there
/// when a field is missing or malformed. Files from before the label smoothing and the token ids
/// were recorded get the defaults for those.
TransformerConfig configFromMetadata(const std::map<std::string, std::string> &meta,
                                     const std::string &path);

/// Registers --precision (f32 or bf16) on a subcommand, into `precision`.
void addPrecisionFlag(CLI::App &app, std::string &precision);

/// Flags of the static sizes of a graph.
struct ShapeFlags {
  GraphOptions opts;
  void add(CLI::App &app);
};

} // namespace kiln::tools
