#pragma once
// Translation with compiled decoding programs: sentences are tokenized, sorted by length into
// batches, and decoded by beam search, greedy search or sampling with the encoder and the
// decode step of their batch's shape (compiled on first use and kept), then detokenized.

#include "compiler/programs.h"
#include "runtime/data/tokenizer.h"
#include "runtime/executable.h"
#include "tools/backend_flags.h"

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace kiln::tools {

/// How to search: a beam (the default), greedy, or sampling.
struct SearchOptions {
  int64_t batch = 32, max_length = 128;
  int64_t beam = 4, nbest = 0, top_k = 0;
  bool greedy = false, sample = false;
  double length_penalty = 0.6, temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;

  /// Throws Error for options that contradict each other (sampling flags without sampling, ...).
  void check() const;
};

/// A translation and its score (beam search's ranking value; 0 for greedy and sampling).
struct Translation {
  double score = 0;
  std::string text;
};

/// Translates with one model's architecture and tokenizer; the weights are given per call, so
/// that a training run can translate with its current ones.
class Translator {
public:
  Translator(TransformerConfig config, const data::Tokenizer &tokenizer,
             const BackendFlags &backend);

  /// The translations of each line, best first: one, or nbest of them. An empty line (or one
  /// that tokenizes to nothing) translates to nothing.
  std::vector<std::vector<Translation>> translate(const Bindings &weights,
                                                  const SearchOptions &search,
                                                  const std::vector<std::string> &lines);

  /// The decoding programs compiled so far (an encoder and a step each).
  size_t programs() const { return programs_.size(); }

private:
  struct Programs {
    std::unique_ptr<Executable> encoder, step;
  };
  /// The programs of sentences [rows, src_len] decoded in rows * width rows and capacity
  /// positions.
  Programs &programsFor(int64_t rows, int64_t width, int64_t src_len, int64_t capacity);

  TransformerConfig config_;
  const data::Tokenizer &tokenizer_;
  const BackendFlags &backend_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, Programs> programs_;
};

} // namespace kiln::tools
