#include "runtime/data/sentence_pairs.h"

namespace kiln::data {

std::vector<std::string> sentencesOf(const std::vector<SentencePair> &pairs) {
  std::vector<std::string> sentences;
  sentences.reserve(2 * pairs.size());
  for (const SentencePair &p : pairs) {
    sentences.push_back(p.source);
    sentences.push_back(p.target);
  }
  return sentences;
}

int64_t wordCount(std::string_view sentence) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : sentence) {
    n += !isBlank(c) && !in_word;
    in_word = !isBlank(c);
  }
  return n;
}

} // namespace kiln::data
