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
  std::optional<int64_t> d_model, heads, ffn, layers, encoder_layers, decoder_layers, vocab;
  std::optional<double> label_smoothing;
  bool pre_norm = false, gelu = false, tie_generator = false;
  std::optional<int64_t> pad_id, bos_id, eos_id, unk_id;

  /// Registers the flags on a subcommand.
  void add(CLI::App &app);
  /// The preset with every override applied.
  TransformerConfig resolve() const;
};

/// The architecture as checkpoint metadata (kiln.model.d_model, ...), so that a checkpoint says
/// which model it holds.
std::map<std::string, std::string> configMetadata(const TransformerConfig &cfg);
/// The architecture that configMetadata wrote into the metadata of the file at `path`; an Error
/// there when a field is missing or malformed.
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
