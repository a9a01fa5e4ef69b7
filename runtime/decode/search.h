#pragma once
// Beam search and sampling over a program that computes the logits of a whole target at once
// (greedy.h's LogitsFn): each step runs it on every open hypothesis and reads the scores at the
// position being chosen.
//
// Beam search keeps `width` hypotheses a sentence. Each step extends every one by every token
// (PAD and BOS excluded) with the token's log-probability and takes the `2 * width` best
// extensions: those among the first `width` that end in EOS finish, and the `width` best of
// those that do not stay open. A sentence is done when `width` hypotheses have finished, or at the
// last position, where the open ones finish as they are. Finished hypotheses rank by their
// log-probability divided by GNMT's length penalty ((5 + length) / 6)^alpha, EOS counted in the
// length.
//
// Sampling draws each token from softmax(logits / temperature), cut to the `top_k` most likely
// tokens and to the smallest set whose probability reaches `top_p`, with Philox numbers of the
// seed's sampling stream at (row, position): a seed reproduces its samples.

#include "runtime/decode/greedy.h"

namespace kiln::decode {

/// A finished hypothesis: its tokens (EOS excluded) and its score (the ranking value).
struct Hypothesis {
  std::vector<int64_t> tokens;
  double score = 0;
  double log_probability = 0;
};

struct BeamOptions {
  int64_t width = 4;
  double length_penalty = 0.6; ///< alpha; 0 ranks by log-probability alone
  int64_t nbest = 1;           ///< hypotheses returned a sentence, at most width
};

/// The `nbest` best hypotheses of each row of src, best first. The program runs on
/// [rows * width, ...] batches: row r's hypotheses are rows r * width ... of its input.
std::vector<std::vector<Hypothesis>> beamSearch(const LogitsFn &logits, const HostBuffer &src,
                                                int64_t tgt_len, const BeamOptions &options,
                                                const DecodeTokens &tokens);

struct SampleOptions {
  double temperature = 1.0; ///< > 0
  int64_t top_k = 0;        ///< 0: no cut
  double top_p = 1.0;       ///< in (0, 1]; 1: no cut
  uint64_t seed = 0;
  uint64_t stream = 0; ///< which call of a run (a batch), folded into the seed's key
};

/// One sampled translation of each row of src (EOS excluded).
std::vector<std::vector<int64_t>> sample(const LogitsFn &logits, const HostBuffer &src,
                                         int64_t tgt_len, const SampleOptions &options,
                                         const DecodeTokens &tokens);

/// The distribution sampling draws from at one position: softmax(logits / temperature) with
/// PAD and BOS removed, cut by top-k and top-p, renormalised (for tests).
std::vector<double> samplingDistribution(std::span<const float> logits,
                                         const SampleOptions &options, const DecodeTokens &tokens);

} // namespace kiln::decode
