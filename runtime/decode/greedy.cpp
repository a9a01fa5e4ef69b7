#include "runtime/decode/greedy.h"

#include <algorithm>

namespace kiln::decode {

std::vector<std::vector<int64_t>> greedyDecode(Decoder &decoder, const HostBuffer &src,
                                               int64_t max_length, const DecodeTokens &tokens) {
  int64_t rows = src.type().shape[0], limit = std::min(max_length, decoder.capacity());
  decoder.start(src, 1);
  std::vector<int64_t> previous(rows, tokens.bos);
  std::vector<std::vector<int64_t>> out(rows);
  std::vector<bool> done(rows, false);
  int64_t open = rows;
  for (int64_t pos = 0; pos < limit && open > 0; ++pos) {
    HostBuffer logits = decoder.step(previous);
    for (int64_t r = 0; r < rows; ++r) {
      if (done[r])
        continue;
      std::span<const float> row = rowLogits(logits, rows, r);
      int64_t best = -1;
      for (int64_t id = 0; id < static_cast<int64_t>(row.size()); ++id)
        if (id != tokens.pad && id != tokens.bos && (best < 0 || row[id] > row[best]))
          best = id;
      previous[r] = best;
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
