// Fuzzes loading a tokenizer: any bytes either load as a SentencePiece model with kiln's
// special ids, which then encodes and decodes text, or are refused with kiln::Error. The
// first byte chooses how the bytes arrive: as a model file or as the base64 text a checkpoint's
// metadata stores.

#include "runtime/data/tokenizer.h"

#include "ir/diagnostics.h"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::string bytes(reinterpret_cast<const char *>(data) + 1, size - 1);
  try {
    kiln::data::Tokenizer t = data[0] % 2 == 0
                                  ? kiln::data::Tokenizer::fromBytes(bytes, "fuzz.model")
                                  : kiln::data::Tokenizer::fromBase64(bytes, "fuzz checkpoint");
    std::vector<int64_t> ids = t.encode("Das Haus ist klein. The house is small.");
    t.decode(ids);
    t.pieces("ein Wort");
    // Ids at the edges of the vocabulary, and one past it (an Error).
    std::vector<int64_t> edges = {0, 1, 2, 3, t.vocabSize() - 1};
    t.decode(edges);
    std::vector<int64_t> past = {t.vocabSize()};
    t.decode(past);
  } catch (const kiln::Error &) {
    return 0;
  }
  return 0;
}
