#include "runtime/data/sentence_pairs.h"

namespace kiln::data {

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
