#pragma once
// The deterministic split of a corpus: a pair's split follows from its English sentence alone,
// r = (MD5 of its UTF-8 bytes, read as a 128-bit big-endian integer) mod 10; r = 0 is test,
// r = 1 valid, the rest train. Adding or removing other pairs never moves a pair.

#include "runtime/data/sentence_pairs.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::data {

/// The three parts of a corpus: trained on, tuned on, scored on once.
enum class Split { Train, Valid, Test };

/// The MD5 digest of `text` as a 128-bit big-endian integer, mod 10.
int md5Mod10(std::string_view text);
/// The MD5 digest of `text` in hex (a cache key).
std::string md5Hex(std::string_view text);

/// The split of a pair whose English sentence is `english`.
Split splitOf(std::string_view english);

/// How a corpus of English-German pairs becomes the pairs a translator sees.
struct SplitOptions {
  bool reverse = false;         ///< German -> English instead of English -> German
  int64_t max_train_words = 15; ///< training pairs whose English has more words are left out
};

/// Ding's pairs (German source, English target, as dingPairs gives them) split by the rule,
/// each pair turned to the direction asked for.
Corpus splitCorpus(const std::vector<SentencePair> &german_english, const SplitOptions &options);

} // namespace kiln::data
