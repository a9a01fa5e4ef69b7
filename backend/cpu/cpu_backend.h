#pragma once
// The CPU backend: every node with a kernel-IR lowering runs as LLVM-JITted loops on the host;
// the others fall back, node by node, to their reference kernels.

#include "backend/backend.h"

namespace kiln {

/// The CPU backend: LLVM-JITted loops, reference kernels for the rest.
const Backend &cpuBackend();

/// Turns a graph into the one the CPU backend runs under a --cpu-kernels mode, which its
/// schedule and memory plan are made from: attention written out where kernel_choice.h says,
/// and fusion groups that do not lower to one kernel dissolved. Returns how many attention
/// nodes were written out.
int prepareCpuGraph(Graph &graph, CpuKernels mode);

} // namespace kiln
