#pragma once
// Corpus BLEU as sacreBLEU computes it by default, so that scores compare with published ones:
// the 13a tokenisation of mteval-v13a, n-grams up to 4 clipped by one reference, the brevity
// penalty over the corpus, and sacreBLEU's "exp" smoothing (a precision with no match counts as
// 1 / (2^k * total) for the k-th such order). Scores are percentages.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::eval {

/// A corpus BLEU score and what it is made of.
struct Bleu {
  double score = 0;               ///< 0 to 100
  std::vector<double> precisions; ///< per n-gram order, percent (smoothed)
  double brevity_penalty = 1;
  int64_t hyp_len = 0, ref_len = 0; ///< 13a tokens
  /// sacreBLEU's one-line summary: "BLEU = 48.89 85.7/66.7/40.0/25.0 (BP = 1.000 ratio = ...)".
  std::string str() const;
};

/// A line as mteval-v13a tokenises it: punctuation and symbols split off, periods and commas
/// unless next to digits, a dash after a digit, whitespace collapsed.
std::string tokenize13a(std::string_view line);

/// The corpus BLEU of hypotheses against one reference each (equal counts).
Bleu corpusBleu(const std::vector<std::string> &hypotheses,
                const std::vector<std::string> &references);

} // namespace kiln::eval
