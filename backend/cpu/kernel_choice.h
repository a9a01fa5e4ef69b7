#pragma once
// Which kernels compute a node on the CPU: kiln's JIT loops (every node that lowers to kernel
// IR) or a oneDNN primitive (the nodes backend/cpu/onednn computes). The choice is made here
// and nowhere else.
//
// The rule under --cpu-kernels=auto: a matmul in f32 or bf16 goes to oneDNN, whose blocked,
// packed GEMM the JIT's plain loop nest does not approach at any size the Transformer has;
// every other node stays on the JIT loops, which fuse it with its neighbours. --cpu-kernels=jit
// and --cpu-kernels=onednn force one path for every node that path computes, so tests cover
// both. A primitive that oneDNN cannot create for a layout falls back to the JIT loops.

#include "backend/backend.h"

namespace kiln::cpu {

/// Where a node's computation comes from.
enum class KernelPath { Jit, OneDnn };

/// The path for a node under a --cpu-kernels mode.
KernelPath chooseKernelPath(const Node &node, CpuKernels mode);

} // namespace kiln::cpu
