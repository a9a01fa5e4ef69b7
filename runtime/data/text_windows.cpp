#include "runtime/data/text_windows.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::data {

WindowSampler::WindowSampler(std::vector<int64_t> ids, int64_t length, uint64_t seed)
    : ids_(std::move(ids)), length_(length), rng_(seed) {
  if (length <= 0)
    throw Error({}, fmt::format("the window length must be positive, found {}", length));
  if (static_cast<int64_t>(ids_.size()) <= length)
    throw Error({}, fmt::format("a text of {} tokens is too short for windows of {} and their "
                                "next tokens",
                                ids_.size(), length));
}

WindowBatch WindowSampler::next(int64_t batch) {
  if (batch <= 0)
    throw Error({}, fmt::format("the batch must be positive, found {}", batch));
  TensorType type{DType::i64, {batch, length_}};
  WindowBatch out{HostBuffer(type), HostBuffer(type)};
  int64_t *input = out.input.as<int64_t>().data(), *target = out.target.as<int64_t>().data();
  // Plain modulo rather than a distribution: the same seed gives the same windows with every
  // standard library (the bias is below starts / 2^64).
  auto starts = static_cast<uint64_t>(ids_.size()) - static_cast<uint64_t>(length_);
  for (int64_t b = 0; b < batch; ++b) {
    auto start = static_cast<int64_t>(rng_() % starts);
    std::copy_n(ids_.begin() + start, length_, input + b * length_);
    std::copy_n(ids_.begin() + start + 1, length_, target + b * length_);
  }
  return out;
}

} // namespace kiln::data
