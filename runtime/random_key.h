#pragma once
// The keys that drivers bind to a graph's seed input: a Philox key as the i32[2] tensor the
// seed role holds, and the dropout key of each training step.

#include "ir/philox.h"
#include "runtime/host_buffer.h"

namespace kiln {

/// A Philox key as the i32[2] tensor that a seed input holds.
HostBuffer keyBuffer(PhiloxKey key);

/// The dropout key of a training step under a seed: the step folded into the dropout stream's
/// key, so every step draws fresh masks and a resumed run draws the same ones.
PhiloxKey dropoutKey(uint64_t seed, int64_t step);

/// The dropout key of rank `rank` of a data-parallel group at a step: rank 0's is dropoutKey's,
/// the others' fold their rank in too, so that no two ranks draw the same masks.
PhiloxKey dropoutKey(uint64_t seed, int64_t step, int rank);

} // namespace kiln
