#include "runtime/decode/greedy.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln::decode {

std::span<const float> logitsAt(const HostBuffer &logits, int64_t rows, int64_t tgt_len,
                                int64_t row, int64_t pos) {
  const Shape &shape = logits.type().shape;
  if (logits.type().dtype != DType::f32 || shape.size() != 3 || shape[0] != rows ||
      shape[1] != tgt_len)
    throw Error({}, fmt::format("the decoding program gives logits {}, expected f32[{},{},V]",
                                logits.type().str(), rows, tgt_len));
  return logits.as<float>().subspan((row * tgt_len + pos) * shape[2], shape[2]);
}

std::vector<std::vector<int64_t>> greedyDecode(const LogitsFn &logits, const HostBuffer &src,
                                               int64_t tgt_len, const DecodeTokens &tokens) {
  int64_t rows = src.type().shape[0];
  HostBuffer tgt(TensorType{DType::i64, {rows, tgt_len}});
  std::span<int64_t> t = tgt.as<int64_t>();
  std::fill(t.begin(), t.end(), tokens.pad);
  std::vector<std::vector<int64_t>> out(rows);
  std::vector<bool> done(rows, false);
  int64_t open = rows;
  for (int64_t pos = 0; pos < tgt_len && open > 0; ++pos) {
    HostBuffer l = logits(src, tgt);
    for (int64_t r = 0; r < rows; ++r) {
      if (done[r])
        continue;
      std::span<const float> row = logitsAt(l, rows, tgt_len, r, pos);
      int64_t best = -1;
      for (int64_t id = 0; id < static_cast<int64_t>(row.size()); ++id)
        if (id != tokens.pad && id != tokens.bos && (best < 0 || row[id] > row[best]))
          best = id;
      t[r * tgt_len + pos] = best;
      if (best == tokens.eos) {
        done[r] = true;
        --open;
      } else {
        out[r].push_back(best);
      }
    }
  }
  return out;
}

} // namespace kiln::decode
