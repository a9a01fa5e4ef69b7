#include "runtime/decode/decoder.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace kiln::decode {

std::span<const float> rowLogits(const HostBuffer &logits, int64_t rows, int64_t row) {
  const Shape &shape = logits.type().shape;
  if (logits.type().dtype != DType::f32 || shape.size() != 2 || shape[0] != rows)
    throw Error({}, fmt::format("the decoding program gives logits {}, expected f32[{},V]",
                                logits.type().str(), rows));
  return logits.as<float>().subspan(row * shape[1], shape[1]);
}

namespace {

/// The bytes of one row (everything after the first axis) of a buffer.
size_t rowBytes(const HostBuffer &b) {
  int64_t rows = b.shape().empty() ? 0 : b.shape()[0];
  return rows == 0 ? 0 : b.byteSize() / static_cast<size_t>(rows);
}

} // namespace

HostBuffer repeatRows(const HostBuffer &rows, int64_t times) {
  Shape shape = rows.shape();
  int64_t n = shape.at(0);
  shape[0] = n * times;
  HostBuffer out(TensorType{rows.dtype(), shape});
  size_t row = rowBytes(rows);
  for (int64_t r = 0; r < n * times; ++r)
    std::memcpy(out.data() + r * row, rows.data() + (r / times) * row, row);
  return out;
}

HostBuffer gatherRows(const HostBuffer &rows, std::span<const int64_t> parents) {
  int64_t n = rows.shape().at(0);
  KILN_ASSERT(static_cast<int64_t>(parents.size()) == n, "a parent for every row");
  HostBuffer out(rows.type());
  size_t row = rowBytes(rows);
  for (int64_t r = 0; r < n; ++r) {
    KILN_ASSERT(parents[r] >= 0 && parents[r] < n, "parents are rows");
    std::memcpy(out.data() + r * row, rows.data() + parents[r] * row, row);
  }
  return out;
}

FullDecoder::FullDecoder(LogitsFn logits, int64_t tgt_len, DecodeTokens tokens)
    : logits_(std::move(logits)), tgt_len_(tgt_len), tokens_(tokens) {}

void FullDecoder::start(const HostBuffer &src, int64_t copies) {
  src_ = repeatRows(src, copies);
  tgt_ = HostBuffer(TensorType{DType::i64, {src_.shape()[0], tgt_len_}});
  std::span<int64_t> t = tgt_.as<int64_t>();
  std::fill(t.begin(), t.end(), tokens_.pad);
  position_ = 0;
}

HostBuffer FullDecoder::step(std::span<const int64_t> tokens) {
  int64_t rows = src_.shape()[0];
  KILN_ASSERT(static_cast<int64_t>(tokens.size()) == rows, "a token for every row");
  if (position_ >= tgt_len_)
    throw Error({}, fmt::format("decoding past the {} positions of the program", tgt_len_));
  // The decoder reads target t - 1 at position t: the previous token is that target.
  std::span<int64_t> t = tgt_.as<int64_t>();
  if (position_ > 0)
    for (int64_t r = 0; r < rows; ++r)
      t[r * tgt_len_ + position_ - 1] = tokens[r];
  HostBuffer all = logits_(src_, tgt_);
  const Shape &shape = all.type().shape;
  if (all.type().dtype != DType::f32 || shape.size() != 3 || shape[0] != rows ||
      shape[1] != tgt_len_)
    throw Error({}, fmt::format("the decoding program gives logits {}, expected f32[{},{},V]",
                                all.type().str(), rows, tgt_len_));
  int64_t vocab = shape[2];
  HostBuffer out(TensorType{DType::f32, {rows, vocab}});
  std::span<const float> in = all.as<float>();
  std::span<float> o = out.as<float>();
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(in.begin() + (r * tgt_len_ + position_) * vocab, vocab, o.begin() + r * vocab);
  ++position_;
  return out;
}

void FullDecoder::reorder(std::span<const int64_t> parents) {
  src_ = gatherRows(src_, parents);
  tgt_ = gatherRows(tgt_, parents);
}

} // namespace kiln::decode
