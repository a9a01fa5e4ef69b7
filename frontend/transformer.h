#pragma once
// The encoder-decoder Transformer of "Attention Is All You Need", written with the DSL's
// modules, with the parameter names of PyTorch's nn.Transformer plus src_embed, tgt_embed and
// generator. Masks, teacher forcing and the loss are built inside the graph.

#include "frontend/nn.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// Special token ids.
struct TokenIds {
  int64_t pad = 0, bos = 1, eos = 2, unk = 3;
};

/// The architecture's hyper-parameters.
struct TransformerConfig {
  std::string name = "custom";
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t ffn = 256;
  int64_t encoder_layers = 2;
  int64_t decoder_layers = 2;
  int64_t vocab = 1000;
  double norm_eps = 1e-5;
  bool pre_norm = false;      ///< LayerNorm before each sub-layer instead of after
  bool gelu = false;          ///< GELU in the feed-forward instead of ReLU
  bool tie_generator = false; ///< the generator reuses tgt_embed.weight
  double label_smoothing = 0.0;
  TokenIds tokens;
};

/// The named configurations: tiny, small, base. Throws Error for another name.
TransformerConfig presetConfig(const std::string &name);
/// The names presetConfig knows.
std::vector<std::string> presetNames();

/// What the built graph computes.
enum class Stage {
  Forward, ///< inputs src, tgt; output logits [B, T, V]
  Loss,    ///< inputs src, tgt; outputs loss (scalar) and logits
  /// Decoding's first program: input src [B, S]; outputs memory_mask [B, 1, 1, S] (additive,
  /// -inf at padding) and, for each decoder layer L, the cross-attention's keys and values
  /// decoder.layers.L.multihead_attn.keys and .values [B, heads, S, d / heads]. Each is an
  /// input of the decode step of the same name.
  Encoder,
  /// One decoding step with a KV cache of tgt_len positions: inputs token i64[B] (the previous
  /// token of each row, BOS at position 0), position i64[] (from 0), the encoder's outputs, and
  /// state decoder.layers.L.self_attn.keys and .values [B, heads, tgt_len, d / heads], which
  /// the step updates in place at the position; output logits [B, V] of the next token. Rows
  /// attend to the positions up to theirs; later ones are masked, but their values still enter
  /// as 0 * value, so a cache starts zeroed (as a fresh HostBuffer is). The tokens fed are
  /// never masked as padding: the searches never choose PAD.
  DecodeStep,
};

/// Static sizes of one compiled graph, and whether dropout is on.
struct GraphOptions {
  int64_t batch = 2;
  int64_t src_len = 8;
  int64_t tgt_len = 8;  ///< Stage::DecodeStep: the capacity of the KV cache
  double dropout = 0.0; ///< > 0 adds the random op and a "seed" input
};

/// A recorded model: the graph and its parameters with their initializers.
struct BuiltModel {
  std::unique_ptr<Graph> graph;
  std::vector<ParamSpec> params;
};

/// Builds the Transformer graph for a stage.
BuiltModel buildTransformer(const TransformerConfig &cfg, Stage stage, const GraphOptions &opts);

/// Additive key-padding mask [B, 1, 1, S]: -inf where tokens equal pad, 0 elsewhere.
Tensor paddingMask(const Tensor &tokens, int64_t pad, SrcLoc loc = SrcLoc::current());
/// Additive causal mask [T, T]: -inf where the key comes after the query.
Tensor causalMask(ModelBuilder &mb, int64_t length, SrcLoc loc = SrcLoc::current());
/// Teacher forcing: BOS followed by tgt[:, :-1].
Tensor shiftRight(const Tensor &tgt, int64_t bos, SrcLoc loc = SrcLoc::current());
/// Mean over non-pad targets of the cross-entropy of logits [B, T, V] against targets [B, T],
/// with PyTorch's label smoothing; log-softmax written out.
Tensor crossEntropy(const Tensor &logits, const Tensor &targets, int64_t pad,
                    double label_smoothing, SrcLoc loc = SrcLoc::current());

} // namespace kiln
