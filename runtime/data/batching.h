#pragma once
// Batches of real sentences: pairs sorted into buckets by their padded length (the longer
// side's, EOS included, rounded up; both sides are padded to it), a token budget per batch,
// seeded shuffling. Every bucket has one batch shape, so a driver compiles one program
// per bucket. The schedule of an epoch depends only on (seed, epoch): the batch of a step is a
// function of the step, so a resumed run sees the batches an uninterrupted one would.

#include "runtime/tasks.h"

#include <cstdint>
#include <map>
#include <vector>

namespace kiln::data {

/// A sentence pair as token ids, without BOS or EOS.
struct EncodedPair {
  std::vector<int64_t> src, tgt;
};

/// How pairs become batches.
struct BatchingOptions {
  int64_t batch_tokens = 4096; ///< padded tokens of a batch on one side, at most
  int64_t length_step = 8;     ///< bucket lengths (EOS included) are multiples of this
  int64_t max_length = 64;     ///< pairs longer than this on a side (EOS included) are left out
  int64_t pad = 0, eos = 2;
};

/// A batch shape: rows, source and target length.
struct BatchShape {
  int64_t batch = 0, src_len = 0, tgt_len = 0;
  auto operator<=>(const BatchShape &) const = default;
};

/// Pairs as a deterministic stream of bucketed, padded batches.
class BatchSchedule {
public:
  /// `shuffle`: a fresh seeded order every epoch (training); off, one fixed order (validation).
  BatchSchedule(const std::vector<EncodedPair> &pairs, const BatchingOptions &options,
                uint64_t seed, bool shuffle = true);

  /// Batches in an epoch: each bucket's pairs in batches of its rows, the last one filled up
  /// from the bucket's start.
  int64_t batchesPerEpoch() const { return static_cast<int64_t>(order_.size()); }
  /// The batch of a step (from 1); step batchesPerEpoch() + 1 starts the second epoch.
  Batch batchAt(int64_t step) const;
  /// The shape of that batch, without building it.
  BatchShape shapeAt(int64_t step) const;
  /// Every bucket's shape, and how many pairs it holds.
  std::map<BatchShape, int64_t> buckets() const;
  /// Pairs left out for their length.
  int64_t dropped() const { return dropped_; }
  /// Pairs kept.
  int64_t pairs() const { return kept_; }
  /// Target tokens (EOS included) of an epoch's batches, the repeats that fill up last batches
  /// included.
  int64_t targetTokensPerEpoch() const { return epoch_tokens_; }

private:
  struct Bucket {
    BatchShape shape;
    std::vector<size_t> pairs; ///< indices into storage_
  };
  /// Which bucket and which of its batches each batch of an epoch is.
  struct Slot {
    int bucket = 0;
    int64_t index = 0;
  };

  /// The order of epoch `epoch`'s bucket pairs and batches (cached for the last epoch asked).
  void arrange(int64_t epoch) const;

  BatchingOptions options_;
  uint64_t seed_;
  bool shuffle_;
  std::vector<EncodedPair> storage_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> order_;
  int64_t dropped_ = 0, kept_ = 0, epoch_tokens_ = 0;
  mutable int64_t arranged_epoch_ = -1;
  mutable std::vector<std::vector<size_t>> shuffled_;
  mutable std::vector<Slot> epoch_order_;
};

} // namespace kiln::data
