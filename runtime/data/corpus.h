#pragma once
// The corpus a run names: the built-in `ding-en-de` (Ding's example sentences, split by
// split.h's rule) or a user's TSV files.

#include "runtime/data/split.h"

#include <string>

namespace kiln::data {

/// The name of the built-in corpus.
inline constexpr const char *kDingCorpus = "ding-en-de";

/// Which corpus to load and how.
struct CorpusSpec {
  std::string data = kDingCorpus; ///< `ding-en-de` or a TSV file of training pairs
  std::string valid;              ///< with a TSV file: a TSV file of validation pairs (optional)
  SplitOptions split; ///< the direction (both kinds); with `ding-en-de`, the training length bound
};

/// The corpus of a spec. With a TSV file, its pairs are all training pairs (in the file's
/// direction; `reverse` swaps them) and `valid` gives the validation pairs.
Corpus loadCorpus(const CorpusSpec &spec);

} // namespace kiln::data
