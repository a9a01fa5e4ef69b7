#pragma once
// What the fuzz targets share: a bound on the work one input may ask for, so that a timeout
// means a real hang, and a reader that turns fuzzer bytes into choices.

#include "ir/graph.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace kiln::fuzz {

/// The most elements one tensor of a graph that a target runs may have.
inline constexpr int64_t kMaxTensorElements = 4096;
/// The most elements all values of a graph that a target runs may have together.
inline constexpr int64_t kMaxGraphElements = 1 << 16;

/// The elements of a shape, or -1 when they exceed `limit` (computed without overflow, so any
/// dimensions a parser accepts can be asked about).
inline int64_t boundedElements(const Shape &shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return -1;
    if (d == 0)
      return 0;
    if (n > limit / d)
      return -1;
    n *= d;
  }
  return n;
}

/// Whether every input and node result of a graph is small enough to run: at most
/// kMaxTensorElements each and kMaxGraphElements together.
inline bool smallEnoughToRun(const Graph &g) {
  int64_t total = 0;
  auto fits = [&](const Value &v) {
    int64_t n = boundedElements(v.type.shape, kMaxTensorElements);
    if (n < 0)
      return false;
    total += n;
    return total <= kMaxGraphElements;
  };
  for (const GraphInput &in : g.inputs())
    if (!fits(*in.value))
      return false;
  for (const auto &node : g.nodes())
    for (const auto &r : node->results)
      if (!fits(*r))
        return false;
  return true;
}

/// Takes choices from fuzzer bytes, front to back; once they run out every choice is 0, so
/// every input, even an empty one, decodes to something.
class ByteReader {
public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  /// A number in [0, n); n must be positive.
  uint32_t below(uint32_t n) {
    if (n <= 1)
      return 0;
    uint32_t v = 0;
    for (uint32_t range = 1; range < n && range <= 0xffffff; range <<= 8)
      v = (v << 8) | next();
    return v % n;
  }
  /// A number in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) { return lo + below(static_cast<uint32_t>(hi - lo + 1)); }
  /// A choice that is true about once in `n` (n >= 1).
  bool oneIn(uint32_t n) { return below(n) == 0; }
  /// One element of a non-empty list.
  template <typename T> const T &pick(std::span<const T> items) {
    return items[below(static_cast<uint32_t>(items.size()))];
  }
  /// Whether bytes are left.
  bool empty() const { return at_ >= bytes_.size(); }

private:
  uint8_t next() { return at_ < bytes_.size() ? bytes_[at_++] : 0; }

  std::span<const uint8_t> bytes_;
  size_t at_ = 0;
};

} // namespace kiln::fuzz
