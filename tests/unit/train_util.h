#pragma once
// Helpers of the tests that train: a Transformer small enough to learn the copy task in a few
// hundred steps, that task, a fresh trainer state and a training loop.

#include "test_util.h"

#include "frontend/init.h"
#include "frontend/transformer.h"
#include "runtime/trainer.h"

#include <vector>

namespace kiln::test {

/// The tiny preset cut down: d_model 32, 2 heads, ffn 64, a vocabulary of 16, one layer each.
inline TransformerConfig smallTransformer() {
  TransformerConfig c = presetConfig("tiny");
  c.d_model = 32, c.heads = 2, c.ffn = 64, c.vocab = 16;
  c.encoder_layers = c.decoder_layers = 1;
  return c;
}

/// The copy task over a configuration's vocabulary, lengths 6.
inline SyntheticTask copyTask(const TransformerConfig &c, int64_t batch) {
  SyntheticTask t;
  t.vocab = c.vocab;
  t.batch = batch, t.src_len = 6, t.tgt_len = 6;
  return t;
}

/// Initial weights from `seed` and zero optimizer state.
inline TrainerState freshState(const BuiltModel &m, const Trainer &trainer, uint64_t seed) {
  TrainerState state;
  auto init = initialValues(m.params, seed);
  for (size_t i = 0; i < m.params.size(); ++i)
    state.tensors.emplace(m.params[i].name, toBuffer(init[i]));
  trainer.initState(state);
  return state;
}

/// Trains until `state` is at step `steps`; returns the losses.
inline std::vector<double> train(const Trainer &trainer, TrainerState &state, int64_t steps) {
  std::vector<double> losses;
  while (state.step < steps)
    losses.push_back(trainer.step(state).loss);
  return losses;
}

} // namespace kiln::test
