#pragma once
// The CPU backend: every node with a kernel-IR lowering runs as LLVM-JITted loops on the host;
// the others fall back, node by node, to their reference kernels.

#include "backend/backend.h"

namespace kiln {

/// The CPU backend: LLVM-JITted loops, reference kernels for the rest.
const Backend &cpuBackend();

} // namespace kiln
