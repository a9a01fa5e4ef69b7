// Fuzzes the safetensors reader: any bytes either give tensors whose byte counts match their
// dtypes and shapes, and which serialize and read back to the same tensors, or are refused with
// kiln::Error.

#include "runtime/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::span<const std::byte> file(reinterpret_cast<const std::byte *>(data), size);
  kiln::TensorMap tensors;
  try {
    tensors = kiln::parseSafetensors(file, "fuzz.safetensors");
  } catch (const kiln::Error &) {
    return 0; // a malformed file, reported as it should be
  }
  for (const auto &[name, t] : tensors) {
    // parseSafetensors checked that the bytes hold exactly this many elements.
    int64_t n = kiln::fuzz::boundedElements(t.shape, int64_t{1} << 40);
    if (n < 0 || t.bytes.size() != static_cast<size_t>(n) * kiln::dtypeSize(t.dtype)) {
      std::fprintf(stderr, "tensor '%s' has %zu bytes for %s\n", name.c_str(), t.bytes.size(),
                   kiln::TensorType{t.dtype, t.shape}.str().c_str());
      std::abort();
    }
  }
  std::vector<std::byte> again = kiln::serializeSafetensors(tensors);
  kiln::TensorMap back = kiln::parseSafetensors(again, "serialized.safetensors");
  bool same = back.size() == tensors.size();
  for (auto a = tensors.begin(), b = back.begin(); same && a != tensors.end(); ++a, ++b)
    same = a->first == b->first && a->second.dtype == b->second.dtype &&
           a->second.shape == b->second.shape && a->second.bytes == b->second.bytes;
  if (!same) {
    std::fprintf(stderr, "serializing the tensors and reading them back changes them\n");
    std::abort();
  }
  return 0;
}
