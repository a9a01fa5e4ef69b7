#pragma once
// Internal to backend/gpu/ptx: where a kernel's local buffers and its reduction scratch sit in
// a block's dynamic shared memory.

#include "backend/gpu/ptx/ptx.h"

namespace kiln::gpu {

/// Byte offsets in a block's dynamic shared memory.
struct SharedLayout {
  std::vector<int64_t> offsets; ///< per buffer of the kernel; -1 for all but Local buffers
  int64_t scratch = -1;         ///< block x 8 bytes for group reductions, or -1 when none
  int64_t bytes = 0;            ///< the whole
};

/// The shared memory of a kernel launched with `block` threads per block.
SharedLayout sharedLayout(const kernel::Kernel &k, int64_t block);

/// Whether a kernel runs its groups on blocks: its body is one group loop.
bool isGroupKernel(const kernel::Kernel &k);

} // namespace kiln::gpu
