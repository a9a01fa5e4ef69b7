#pragma once
// Sampling text from the trained model, one character at a time. There is no KV cache: each
// character re-runs the whole forward on the window of the last `length` characters (the
// context at positions 0 .. n-1, zeros after it, which the causal mask keeps out) and reads the
// logits at the last position of the context.

#include "gpt.h"

#include <cstdint>
#include <string>

namespace gpt {

/// How to sample.
struct SampleSettings {
  double temperature = 0.8;
  int64_t top_k = 0; ///< 0: every character
  int64_t characters = 200;
  uint64_t seed = 1;
};

/// Continues `prompt` by `settings.characters` characters drawn from softmax(logits /
/// temperature), cut to the top_k most likely. `logits` is buildLogits' graph compiled, with the
/// parameters bound; returns the prompt and its continuation.
std::string sample(kiln::Executable &logits, kiln::Bindings &bindings,
                   const kiln::data::CharTokenizer &tokenizer, int64_t length,
                   const std::string &prompt, const SampleSettings &settings);

} // namespace gpt
