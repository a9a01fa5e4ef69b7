// Fuzzes the reader of users' parallel text (TSV): any bytes either give sentence pairs whose
// sides are non-empty and tab-free, which tsvText writes back to pairs that read the same, or
// are refused with kiln::Error.

#include "ir/diagnostics.h"
#include "runtime/data/tsv.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char *>(data), size));
  std::vector<kiln::data::SentencePair> pairs;
  try {
    pairs = kiln::data::tsvPairs(in, "fuzz.tsv");
  } catch (const kiln::Error &) {
    return 0; // a malformed line, reported at its number
  }
  for (const auto &p : pairs)
    if (p.source.find('\t') != std::string::npos || p.target.find('\t') != std::string::npos ||
        kiln::data::wordCount(p.source) == 0 || kiln::data::wordCount(p.target) == 0) {
      std::fprintf(stderr, "a pair with a tab or an empty side: '%s' / '%s'\n", p.source.c_str(),
                   p.target.c_str());
      std::abort();
    }
  std::istringstream again(kiln::data::tsvText(pairs));
  if (kiln::data::tsvPairs(again, "written.tsv") != pairs) {
    std::fprintf(stderr, "writing the pairs and reading them back changes them\n");
    std::abort();
  }
  return 0;
}
