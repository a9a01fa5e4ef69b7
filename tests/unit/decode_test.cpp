// Greedy decoding's driver on a program whose logits are written by hand: the choice at each
// position, EOS ending a row, PAD and BOS never chosen, and the prefix the program is shown.

#include "runtime/decode/greedy.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::decode;

TEST_CASE("greedy: the best token at each position, EOS ends a row, never PAD or BOS") {
  const int64_t rows = 2, len = 5, vocab = 8;
  HostBuffer src(TensorType{DType::i64, {rows, 3}});
  int calls = 0;
  // Row 0 wants 5, 6, then EOS; row 1 wants 7 everywhere, but PAD and BOS score higher.
  LogitsFn logits = [&](const HostBuffer &, const HostBuffer &tgt) {
    ++calls;
    std::span<const int64_t> t = tgt.as<int64_t>();
    // The program sees the tokens chosen so far and PAD after them.
    for (int64_t p = calls - 1; p < len; ++p)
      CHECK(t[p] == 0);
    HostBuffer l(TensorType{DType::f32, {rows, len, vocab}});
    std::span<float> v = l.as<float>();
    for (int64_t p = 0; p < len; ++p) {
      float *a = v.data() + p * vocab, *b = v.data() + (len + p) * vocab;
      a[p == 0 ? 5 : p == 1 ? 6 : 2] = 1;
      b[0] = b[1] = 9;
      b[7] = 2;
    }
    return l;
  };
  std::vector<std::vector<int64_t>> out = greedyDecode(logits, src, len, {});
  CHECK(out[0] == std::vector<int64_t>{5, 6});
  CHECK(out[1] == std::vector<int64_t>(len, 7));
  CHECK(calls == len);
}
