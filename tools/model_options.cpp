#include "tools/model_options.h"

#include "tools/tool_support.h"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace kiln::tools {

void ModelFlags::add(CLI::App &app) {
  app.add_option("--config", config, "tiny, small or base")
      ->each([this](const std::string &) { config_given = true; })
      ->capture_default_str();
  app.add_option("--d-model", d_model, "model width")->check(positive());
  app.add_option("--heads", heads, "attention heads")->check(positive());
  app.add_option("--ffn", ffn, "feed-forward width")->check(positive());
  app.add_option("--layers", layers, "encoder and decoder layers")->check(nonNegative());
  app.add_option("--encoder-layers", encoder_layers, "encoder layers")->check(nonNegative());
  app.add_option("--decoder-layers", decoder_layers, "decoder layers")->check(nonNegative());
  app.add_option("--vocab", vocab,
                 "vocabulary size (kiln train --data: the pieces of the tokenizer it trains, "
                 "8000 by default)")
      ->check(positive());
  app.add_option("--label-smoothing", label_smoothing,
                 "label smoothing of the loss (0 by default, 0.1 with kiln train --data, as in "
                 "the paper)")
      ->check(between(0, 1));
  app.add_flag("--pre-norm", pre_norm, "LayerNorm before each sub-layer");
  app.add_flag("--gelu", gelu, "GELU instead of ReLU in the feed-forward");
  app.add_flag("--tie-generator", tie_generator, "the generator reuses tgt_embed.weight");
  app.add_option("--pad-id", pad_id, "padding token id (0)")->check(nonNegative());
  app.add_option("--bos-id", bos_id, "begin-of-sequence token id (1)")->check(nonNegative());
  app.add_option("--eos-id", eos_id, "end-of-sequence token id (2)")->check(nonNegative());
  app.add_option("--unk-id", unk_id, "unknown token id (3)")->check(nonNegative());
}

namespace {

/// The integer fields of the architecture, by metadata name.
std::vector<std::pair<std::string, int64_t TransformerConfig::*>> integerFields() {
  return {{"d_model", &TransformerConfig::d_model},
          {"heads", &TransformerConfig::heads},
          {"ffn", &TransformerConfig::ffn},
          {"encoder_layers", &TransformerConfig::encoder_layers},
          {"decoder_layers", &TransformerConfig::decoder_layers},
          {"vocab", &TransformerConfig::vocab}};
}

std::vector<std::pair<std::string, bool TransformerConfig::*>> flagFields() {
  return {{"pre_norm", &TransformerConfig::pre_norm},
          {"gelu", &TransformerConfig::gelu},
          {"tie_generator", &TransformerConfig::tie_generator}};
}

/// The token ids, by metadata name.
std::vector<std::pair<std::string, int64_t TokenIds::*>> tokenFields() {
  return {{"pad_id", &TokenIds::pad},
          {"bos_id", &TokenIds::bos},
          {"eos_id", &TokenIds::eos},
          {"unk_id", &TokenIds::unk}};
}

} // namespace

std::map<std::string, std::string> configMetadata(const TransformerConfig &cfg) {
  std::map<std::string, std::string> meta = {
      {"kiln.config", cfg.name},
      {"kiln.model.norm_eps", fmt::format("{}", cfg.norm_eps)},
      {"kiln.model.label_smoothing", fmt::format("{}", cfg.label_smoothing)}};
  for (const auto &[name, field] : integerFields())
    meta["kiln.model." + name] = std::to_string(cfg.*field);
  for (const auto &[name, field] : flagFields())
    meta["kiln.model." + name] = cfg.*field ? "1" : "0";
  for (const auto &[name, field] : tokenFields())
    meta["kiln.model." + name] = std::to_string(cfg.tokens.*field);
  return meta;
}

bool describesModel(const std::map<std::string, std::string> &meta) {
  return meta.count("kiln.model.d_model") > 0;
}

TransformerConfig configFromMetadata(const std::map<std::string, std::string> &meta,
                                     const std::string &path) {
  auto field = [&](const std::string &name) -> const std::string & {
    auto it = meta.find("kiln.model." + name);
    if (it == meta.end())
      throw Error({path}, fmt::format("the checkpoint does not describe its model (no "
                                      "kiln.model.{}): write it with kiln train --data",
                                      name));
    return it->second;
  };
  TransformerConfig cfg;
  if (auto it = meta.find("kiln.config"); it != meta.end())
    cfg.name = it->second;
  for (const auto &[name, member] : integerFields()) {
    const std::string &text = field(name);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v <= 0)
      throw Error({path}, fmt::format("kiln.model.{} '{}' is not a positive integer", name, text));
    cfg.*member = v;
  }
  for (const auto &[name, member] : flagFields())
    cfg.*member = field(name) == "1";
  auto number = [&](const std::string &name, double fallback) {
    auto it = meta.find("kiln.model." + name);
    if (it == meta.end())
      return fallback;
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(it->second, &used);
    } catch (const std::logic_error &) {
    }
    if (used == 0 || used != it->second.size() || !std::isfinite(v))
      throw Error({path}, fmt::format("kiln.model.{} '{}' is not a number", name, it->second));
    return v;
  };
  field("norm_eps");
  cfg.norm_eps = number("norm_eps", cfg.norm_eps);
  cfg.label_smoothing = number("label_smoothing", cfg.label_smoothing);
  for (const auto &[name, member] : tokenFields()) {
    auto it = meta.find("kiln.model." + name);
    if (it == meta.end())
      continue;
    int64_t v = -1;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || v < 0)
      throw Error({path}, fmt::format("kiln.model.{} '{}' is not a token id", name, it->second));
    cfg.tokens.*member = v;
  }
  return cfg;
}

TransformerConfig ModelFlags::resolve() const {
  TransformerConfig c = presetConfig(config);
  if (d_model)
    c.d_model = *d_model;
  if (heads)
    c.heads = *heads;
  if (ffn)
    c.ffn = *ffn;
  if (layers)
    c.encoder_layers = c.decoder_layers = *layers;
  if (encoder_layers)
    c.encoder_layers = *encoder_layers;
  if (decoder_layers)
    c.decoder_layers = *decoder_layers;
  if (vocab)
    c.vocab = *vocab;
  if (label_smoothing)
    c.label_smoothing = *label_smoothing;
  c.pre_norm |= pre_norm;
  c.gelu |= gelu;
  c.tie_generator |= tie_generator;
  if (pad_id)
    c.tokens.pad = *pad_id;
  if (bos_id)
    c.tokens.bos = *bos_id;
  if (eos_id)
    c.tokens.eos = *eos_id;
  if (unk_id)
    c.tokens.unk = *unk_id;
  return c;
}

TransformerConfig ModelFlags::resolveFor(const std::map<std::string, std::string> &meta,
                                         const std::string &path) const {
  if (!describesModel(meta))
    return resolve();
  TransformerConfig stored = configFromMetadata(meta, path);
  auto refuse = [&](std::string_view flag, auto asked, auto held) {
    throw Error({path}, fmt::format("{} {} does not match the checkpoint's {}: the model comes "
                                    "from the checkpoint, drop the flag",
                                    flag, asked, held));
  };
  if (config_given && config != stored.name)
    refuse("--config", config, stored.name);
  auto same = [&](std::string_view flag, const std::optional<int64_t> &asked, int64_t held) {
    if (asked && *asked != held)
      refuse(flag, *asked, held);
  };
  same("--d-model", d_model, stored.d_model);
  same("--heads", heads, stored.heads);
  same("--ffn", ffn, stored.ffn);
  same("--layers", layers, stored.encoder_layers);
  same("--layers", layers, stored.decoder_layers);
  same("--encoder-layers", encoder_layers, stored.encoder_layers);
  same("--decoder-layers", decoder_layers, stored.decoder_layers);
  same("--vocab", vocab, stored.vocab);
  same("--pad-id", pad_id, stored.tokens.pad);
  same("--bos-id", bos_id, stored.tokens.bos);
  same("--eos-id", eos_id, stored.tokens.eos);
  same("--unk-id", unk_id, stored.tokens.unk);
  if (pre_norm && !stored.pre_norm)
    refuse("--pre-norm", "(pre-norm layers)", "post-norm layers");
  if (gelu && !stored.gelu)
    refuse("--gelu", "(GELU)", "ReLU");
  if (tie_generator && !stored.tie_generator)
    refuse("--tie-generator", "(a tied generator)", "untied generator");
  if (label_smoothing && *label_smoothing != stored.label_smoothing)
    refuse("--label-smoothing", *label_smoothing, stored.label_smoothing);
  return stored;
}

void addPrecisionFlag(CLI::App &app, std::string &precision) {
  app.add_option("--precision", precision,
                 "f32, or bf16: matmuls and attention in bf16 with f32 accumulation; layer "
                 "norm, softmax, the loss, the weights and the optimizer state in f32")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
}

void ShapeFlags::add(CLI::App &app) {
  app.add_option("--batch", opts.batch, "batch size")->check(positive())->capture_default_str();
  app.add_option("--src-len", opts.src_len, "source length")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--tgt-len", opts.tgt_len, "target length")
      ->check(positive())
      ->capture_default_str();
}

} // namespace kiln::tools
