#pragma once
// Beam search and sampling over a Decoder (decoder.h).
//
// Beam search keeps `width` hypotheses a sentence, each in a row of its own. Each step extends
// every one by every token (PAD and BOS excluded) with the token's log-probability and takes the
// `2 * width` best extensions: those among the first `width` that end in EOS finish, and the
// `width` best of those that do not stay open, their rows reordered to follow them. Finished
// hypotheses rank by their log-probability divided by GNMT's length penalty
// ((5 + length) / 6)^alpha, EOS counted in the length. A sentence is done when `width` have
// finished and no open one can still rank among the `width` best of them: its log-probability
// only falls, and its best score is that log-probability over the penalty at the length limit
// (Hugging Face's bound for early_stopping="never"; a short, poor ending found early does not
// cut off a better, longer one); or at the last position, where the open ones finish as they
// are.
//
// Sampling draws each token from softmax(logits / temperature), cut to the `top_k` most likely
// tokens and to the smallest set whose probability reaches `top_p`, with Philox numbers of the
// seed's sampling stream at (row, position): a seed reproduces its samples.

#include "runtime/decode/decoder.h"

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

/// The `nbest` best hypotheses of each row of src, best first, at most `max_length` tokens
/// long. The decoder runs `width` rows a sentence: sentence b's hypotheses are rows
/// b * width ... .
std::vector<std::vector<Hypothesis>> beamSearch(Decoder &decoder, const HostBuffer &src,
                                                int64_t max_length, const BeamOptions &options,
                                                const DecodeTokens &tokens);

struct SampleOptions {
  double temperature = 1.0; ///< > 0
  int64_t top_k = 0;        ///< 0: no cut
  double top_p = 1.0;       ///< in (0, 1]; 1: no cut
  uint64_t seed = 0;
  uint64_t stream = 0; ///< which call of a run (a batch), folded into the seed's key
};

/// One sampled translation of each row of src (EOS excluded).
std::vector<std::vector<int64_t>> sample(Decoder &decoder, const HostBuffer &src,
                                         int64_t max_length, const SampleOptions &options,
                                         const DecodeTokens &tokens);

/// The distribution sampling draws from at one position: softmax(logits / temperature) with
/// PAD and BOS removed, cut by top-k and top-p, renormalised (for tests).
std::vector<double> samplingDistribution(std::span<const float> logits,
                                         const SampleOptions &options, const DecodeTokens &tokens);

} // namespace kiln::decode
