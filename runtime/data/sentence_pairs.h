#pragma once
// Parallel text: sentence pairs and the three splits a translator trains, tunes and is scored on.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::data {

/// A sentence and its translation, UTF-8.
struct SentencePair {
  std::string source, target;
  bool operator==(const SentencePair &) const = default;
};

/// The pairs a translator trains on, chooses checkpoints on, and is scored on once.
struct Corpus {
  std::vector<SentencePair> train, valid, test;
};

/// Every sentence of the pairs, each pair's source then its target: what a joint tokenizer
/// learns from.
std::vector<std::string> sentencesOf(const std::vector<SentencePair> &pairs);

/// Whether a byte is a space, tab or line break.
inline bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// The number of whitespace-separated words of a sentence.
int64_t wordCount(std::string_view sentence);

} // namespace kiln::data
