#include "runtime/batch_share.h"

#include "ir/diagnostics.h"

#include <cstring>

namespace kiln {
namespace {

int64_t firstRow(int64_t rows, int rank, int ranks) { return rows * rank / ranks; }

/// Rows [begin, end) of a [rows, length] buffer, or one row of `pad` when the range is empty.
HostBuffer rowsOf(const HostBuffer &b, int64_t begin, int64_t end, int64_t pad) {
  const TensorType &t = b.type();
  KILN_ASSERT(t.rank() == 2, "a batch holds [rows, length] tensors");
  int64_t length = t.shape[1];
  HostBuffer out(TensorType{t.dtype, {std::max<int64_t>(end - begin, 1), length}});
  if (end == begin) {
    for (int64_t i = 0; i < length; ++i)
      out.setDouble(i, static_cast<double>(pad));
    return out;
  }
  size_t row = static_cast<size_t>(length * dtypeSize(t.dtype));
  std::memcpy(out.data(), b.data() + static_cast<size_t>(begin) * row,
              static_cast<size_t>(end - begin) * row);
  return out;
}

} // namespace

int64_t shareRows(int64_t rows, int rank, int ranks) {
  return std::max<int64_t>(firstRow(rows, rank + 1, ranks) - firstRow(rows, rank, ranks), 1);
}

Batch batchShare(const Batch &batch, int rank, int ranks, int64_t pad) {
  KILN_ASSERT(ranks >= 1 && rank >= 0 && rank < ranks, "a rank of the group");
  int64_t rows = batch.tgt.type().shape.at(0);
  int64_t begin = firstRow(rows, rank, ranks), end = firstRow(rows, rank + 1, ranks);
  return Batch{rowsOf(batch.src, begin, end, pad), rowsOf(batch.tgt, begin, end, pad)};
}

} // namespace kiln
