#pragma once
// A decoder-only Transformer (GPT) written with kiln's DSL and nn modules: token and learned
// position embeddings, pre-norm blocks of causal self-attention and a GELU feed-forward, a final
// layer norm, and the output projection tied to the token embedding.

#include <kiln/kiln.h>

#include <cstdint>

namespace gpt {

/// The model's sizes.
struct Config {
  int64_t vocab = 0;   ///< characters
  int64_t length = 64; ///< the context: positions a window holds
  int64_t width = 64;  ///< d_model
  int64_t heads = 4;
  int64_t layers = 2;
};

/// The training graph: inputs "input" and "target" (i64[batch, length]); output "loss", the
/// mean cross-entropy of each position's next character.
kiln::BuiltModel buildLoss(const Config &cfg, int64_t batch);

/// The sampling graph: input "input" (i64[1, length]); output "logits" (f32[1, length, vocab]).
/// Its parameters are the training graph's, by name.
kiln::BuiltModel buildLogits(const Config &cfg);

} // namespace gpt
