#pragma once
// Random windows of a token stream for a language model: each window is `length` consecutive
// ids as the input and the same window moved on by one as the targets (the next id at every
// position). Windows start anywhere in the stream, drawn from a seed.

#include "runtime/host_buffer.h"

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace kiln::data {

/// A batch of windows: input and target, each i64[batch, length].
struct WindowBatch {
  HostBuffer input, target;
};

/// Draws windows of `length` ids from a stream of ids, which it keeps.
class WindowSampler {
public:
  /// An Error unless the stream holds more than `length` ids (a window and its next id) and
  /// `length` is positive.
  WindowSampler(std::vector<int64_t> ids, int64_t length, uint64_t seed);

  /// The next `batch` windows, each starting at a position drawn uniformly from the stream's
  /// size() - length starts.
  WindowBatch next(int64_t batch);

  /// The stream.
  const std::vector<int64_t> &ids() const { return ids_; }
  /// The window length.
  int64_t length() const { return length_; }

private:
  std::vector<int64_t> ids_;
  int64_t length_;
  std::mt19937_64 rng_;
};

} // namespace kiln::data
