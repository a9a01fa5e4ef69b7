#pragma once
// Data parallelism's split of a batch: each rank of a group trains on a contiguous share of
// the rows of the batch that a single process would train on at that step.

#include "runtime/tasks.h"

#include <cstdint>

namespace kiln {

/// Rows of a batch of `rows` that rank `rank` of `ranks` trains on: rows * rank / ranks up to
/// rows * (rank + 1) / ranks, or one row when that share is empty.
int64_t shareRows(int64_t rows, int rank, int ranks);

/// Rank `rank`'s share of a batch (src and tgt [rows, length]). A rank whose share is empty
/// gets one row of PAD, which has no target tokens and so adds nothing to the gradients.
Batch batchShare(const Batch &batch, int rank, int ranks, int64_t pad);

} // namespace kiln
