#pragma once
// Inputs for a program drawn from a seed, for checks and timings where no real data is at hand
// (kiln bundle --example-inputs, kiln-run --random-inputs): parameters uniform in [-0.1, 0.1),
// other floats (optimizer state) in [0, 0.01), non-negative so that second moments are valid,
// integers in [1, 8) (token ids of any vocabulary, a step from 1), bools false.

#include "runtime/executable.h"

#include <cstdint>
#include <vector>

namespace kiln::gpu {

/// One buffer per input of `sig`, in its order, drawn from `seed`.
std::vector<HostBuffer> exampleInputs(const Signature &sig, uint64_t seed);

} // namespace kiln::gpu
