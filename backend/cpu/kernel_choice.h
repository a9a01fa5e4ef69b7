#pragma once
// Which kernels compute a node on the CPU: kiln's JIT loops (every node that lowers to kernel
// IR) or a oneDNN primitive (the nodes backend/cpu/onednn computes). The choice is made here
// and nowhere else.
//
// The rule under --cpu-kernels=auto: a matmul in f32 or bf16 goes to oneDNN, whose blocked,
// packed GEMM the JIT's plain loop nest does not approach at any size the Transformer trains
// at, unless its product has at most kJitMatmulRows rows: a decode step's matrix-vector
// products are bound by reading the weights, and the JIT's loop reads them faster than
// oneDNN's primitive at batch 1 (`kiln bench --mode greedy --profile`, small, batch 1, ms a
// step: 0.26 against 0.69 for the 21 products of width 256, 0.18 against 0.54 for the
// generator) and slower at batch 16 (1.47 against 1.28); and
// so do layer_norm_grad in f32 and softmax in f32 or bf16, which oneDNN computes faster; every
// other node stays on the JIT loops, which fuse it with its neighbours. Measured with
// `kiln bench --profile` (small, train, 2 threads; ms per step, oneDNN against JIT):
// layer_norm_grad 2.3 against 18.5, softmax 0.6 against 2.2; but layer_norm 0.9 against 0.8,
// softmax_grad 0.32 against 0.25, and oneDNN's reductions are 3 to 12 times slower than the
// JIT's (the bias gradients' column sums), so those stay JIT. --cpu-kernels=jit and
// --cpu-kernels=onednn force one path for every node that path computes, so tests cover both.
// A primitive that oneDNN cannot create for a layout falls back to the JIT loops. The executable
// then makes an add, or a fused group of adds and a relu, right after a oneDNN matmul whose
// product only it reads, the matmul's post-ops (cpu_executable.cpp), since which qualify
// depends on the memory plan.
//
// Attention is chosen before that, for the whole graph: under auto, attention and
// attention_grad with more than one query row whose probabilities take at most
// kExpandedScoresBytes are written out by
// expand-attention as oneDNN GEMMs around a softmax (cse then lets attention_grad reuse its
// forward's probabilities), and so are larger ones whose fused kernel would need more local
// memory than a worker's stack (very wide heads), which would otherwise run as the reference
// kernel; under onednn every one is. The others, and every one under jit, stay one tiled JIT
// kernel each (lower_attention.cpp) that never stores the [..., Tq, Tk] probabilities.
//
// Measured with `kiln bench` (small, train, 2 threads), writing attention out is 17 % faster at
// lengths 32. At batch 24, lengths 512 (96 MiB of probabilities, beyond the bound) the tiled
// kernels take 9.4 s of an 11.0 s step and the written-out pieces about 1.1 s of a 4.5 s one,
// but the step needs 2610 MiB against 4575: the tiled kernels' dot products are scalar loops
// that reach about 35 GFLOP/s, so beyond the bound they buy memory, not speed
// (--cpu-kernels=onednn buys the speed back).

#include "backend/backend.h"

namespace kiln::cpu {

/// Where a node's computation comes from.
enum class KernelPath { Jit, OneDnn };

/// Under auto, a matmul whose product has at most this many rows (a matrix-vector product)
/// runs as the JIT's loop.
constexpr int64_t kJitMatmulRows = 1;

/// The path for a node under a --cpu-kernels mode.
KernelPath chooseKernelPath(const Node &node, CpuKernels mode);

/// The largest probability tensor of an attention that auto writes out as GEMMs and a softmax.
inline constexpr int64_t kExpandedScoresBytes = int64_t{64} << 20;

/// Whether an attention or attention_grad node is written out as GEMMs and a softmax.
bool expandsAttention(const Node &node, CpuKernels mode);

/// Writes out the attention nodes that expandsAttention picks, then merges what attention_grad
/// recomputes with its forward's (cse) and, in a graph that was fused, groups the new
/// elementwise ops (fuse-elementwise). Returns how many nodes were written out.
int expandChosenAttention(Graph &graph, CpuKernels mode);

} // namespace kiln::cpu
