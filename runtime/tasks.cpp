#include "runtime/tasks.h"

#include "ir/diagnostics.h"
#include "ir/philox.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln {

SyntheticTask::Kind SyntheticTask::parseKind(const std::string &name) {
  if (name == "copy")
    return Kind::Copy;
  if (name == "reverse")
    return Kind::Reverse;
  throw Error({}, fmt::format("unknown task '{}'; expected copy or reverse", name));
}

Batch SyntheticTask::batchAt(int64_t step) const {
  int64_t max_len = std::min(src_len, tgt_len) - 1;
  if (max_len < std::max<int64_t>(min_len, 1) || vocab <= first_token)
    throw Error(
        {},
        fmt::format("the task needs src and tgt lengths of at least {} and a vocabulary above {}; "
                    "given lengths {} and {} and a vocabulary of {}",
                    std::max<int64_t>(min_len, 1) + 1, first_token, src_len, tgt_len, vocab));
  // The data's own stream; counter layout: step in the high 32 bits, a running draw below.
  PhiloxKey key = streamKey(seed, RandomStream::Data);
  uint64_t counter = static_cast<uint64_t>(step) << 32;
  auto draw = [&](int64_t n) {
    return std::min<int64_t>(
        static_cast<int64_t>(philoxUniform(key, counter++) * static_cast<double>(n)), n - 1);
  };
  Batch b{HostBuffer(TensorType{DType::i64, {batch, src_len}}),
          HostBuffer(TensorType{DType::i64, {batch, tgt_len}})};
  std::span<int64_t> src = b.src.as<int64_t>(), tgt = b.tgt.as<int64_t>();
  std::fill(src.begin(), src.end(), pad);
  std::fill(tgt.begin(), tgt.end(), pad);
  for (int64_t r = 0; r < batch; ++r) {
    int64_t len = min_len + draw(max_len - min_len + 1);
    std::vector<int64_t> tokens(len);
    for (int64_t &t : tokens)
      t = first_token + draw(vocab - first_token);
    std::copy(tokens.begin(), tokens.end(), src.begin() + r * src_len);
    src[r * src_len + len] = eos;
    if (kind == Kind::Reverse)
      std::reverse(tokens.begin(), tokens.end());
    std::copy(tokens.begin(), tokens.end(), tgt.begin() + r * tgt_len);
    tgt[r * tgt_len + len] = eos;
  }
  return b;
}

} // namespace kiln
