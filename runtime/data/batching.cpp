#include "runtime/data/batching.h"

#include "ir/diagnostics.h"
#include "ir/philox.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::data {
namespace {

int64_t roundUp(int64_t n, int64_t step) { return (n + step - 1) / step * step; }

/// Shuffles `items` in place (Fisher-Yates) with Philox numbers of `key` from `counter` on.
template <typename T> void shuffle(std::vector<T> &items, PhiloxKey key, uint64_t counter) {
  for (size_t i = items.size(); i > 1; --i) {
    auto j = static_cast<size_t>(philoxUniform(key, counter++) * static_cast<double>(i));
    std::swap(items[i - 1], items[std::min(j, i - 1)]);
  }
}

} // namespace

BatchSchedule::BatchSchedule(const std::vector<EncodedPair> &pairs, const BatchingOptions &options,
                             uint64_t seed, bool shuffle)
    : options_(options), seed_(seed), shuffle_(shuffle) {
  if (options.length_step < 1 || options.max_length < 1 || options.batch_tokens < 1)
    throw Error({}, fmt::format("batching needs positive sizes; given a length step of {}, a "
                                "maximum length of {} and {} tokens a batch",
                                options.length_step, options.max_length, options.batch_tokens));
  for (const EncodedPair &p : pairs) {
    int64_t s = static_cast<int64_t>(p.src.size()) + 1, t = static_cast<int64_t>(p.tgt.size()) + 1;
    if (s > options.max_length || t > options.max_length)
      ++dropped_;
    else
      storage_.push_back(p);
  }
  kept_ = static_cast<int64_t>(storage_.size());
  // One length for both sides: a translation is about as long as its source, and fewer
  // shapes mean fewer programs to compile.
  std::map<int64_t, int> bucket_of;
  for (size_t i = 0; i < storage_.size(); ++i) {
    const EncodedPair &p = storage_[i];
    int64_t len = roundUp(static_cast<int64_t>(std::max(p.src.size(), p.tgt.size())) + 1,
                          options.length_step);
    auto [it, fresh] = bucket_of.emplace(len, static_cast<int>(buckets_.size()));
    if (fresh) {
      int64_t rows = std::max<int64_t>(1, options.batch_tokens / len);
      buckets_.push_back({BatchShape{rows, len, len}, {}});
    }
    buckets_[it->second].pairs.push_back(i);
  }
  // Buckets in shape order, so that the schedule does not depend on the pairs' order.
  std::sort(buckets_.begin(), buckets_.end(),
            [](const Bucket &a, const Bucket &b) { return a.shape < b.shape; });
  for (int b = 0; b < static_cast<int>(buckets_.size()); ++b) {
    const Bucket &bucket = buckets_[b];
    int64_t n = static_cast<int64_t>(bucket.pairs.size()), rows = bucket.shape.batch;
    for (int64_t i = 0; i * rows < n; ++i)
      order_.push_back({b, i});
    int64_t filled = roundUp(n, rows);
    for (int64_t r = 0; r < filled; ++r)
      epoch_tokens_ += static_cast<int64_t>(storage_[bucket.pairs[r % n]].tgt.size()) + 1;
  }
}

void BatchSchedule::arrange(int64_t epoch) const {
  if (epoch == arranged_epoch_)
    return;
  shuffled_.clear();
  for (const Bucket &b : buckets_)
    shuffled_.push_back(b.pairs);
  epoch_order_ = order_;
  if (shuffle_) {
    PhiloxKey key = streamKey(seed_, RandomStream::Data);
    // Counters: the epoch in the high 24 bits, then the bucket, then a running draw.
    auto counter = [&](uint64_t part) {
      return (static_cast<uint64_t>(epoch) << 40) | (part << 32);
    };
    for (size_t b = 0; b < shuffled_.size(); ++b)
      shuffle(shuffled_[b], key, counter(b + 1));
    shuffle(epoch_order_, key, counter(0));
  }
  arranged_epoch_ = epoch;
}

BatchShape BatchSchedule::shapeAt(int64_t step) const {
  KILN_ASSERT(step >= 1 && !order_.empty(), "batches are numbered from 1 of a non-empty schedule");
  int64_t epoch = (step - 1) / batchesPerEpoch();
  arrange(epoch);
  return buckets_[epoch_order_[(step - 1) % batchesPerEpoch()].bucket].shape;
}

Batch BatchSchedule::batchAt(int64_t step) const {
  BatchShape shape = shapeAt(step);
  const Slot &slot = epoch_order_[(step - 1) % batchesPerEpoch()];
  const std::vector<size_t> &pairs = shuffled_[slot.bucket];
  Batch b{HostBuffer(TensorType{DType::i64, {shape.batch, shape.src_len}}),
          HostBuffer(TensorType{DType::i64, {shape.batch, shape.tgt_len}})};
  std::span<int64_t> src = b.src.as<int64_t>(), tgt = b.tgt.as<int64_t>();
  std::fill(src.begin(), src.end(), options_.pad);
  std::fill(tgt.begin(), tgt.end(), options_.pad);
  auto put = [&](std::span<int64_t> row, const std::vector<int64_t> &ids) {
    std::copy(ids.begin(), ids.end(), row.begin());
    row[ids.size()] = options_.eos;
  };
  for (int64_t r = 0; r < shape.batch; ++r) {
    const EncodedPair &p = storage_[pairs[(slot.index * shape.batch + r) % pairs.size()]];
    put(src.subspan(r * shape.src_len, shape.src_len), p.src);
    put(tgt.subspan(r * shape.tgt_len, shape.tgt_len), p.tgt);
  }
  return b;
}

std::map<BatchShape, int64_t> BatchSchedule::buckets() const {
  std::map<BatchShape, int64_t> out;
  for (const Bucket &b : buckets_)
    out[b.shape] = static_cast<int64_t>(b.pairs.size());
  return out;
}

} // namespace kiln::data
