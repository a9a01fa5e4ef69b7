#pragma once
// A rewrite of the kernel IR for GPUs. A GPU runs one iteration of a kernel's top-level
// parallel loop per thread, so a kernel whose parallel loop has few iterations (a matmul's two
// batch rows) leaves most of the device idle and gives each thread long serial loops (too
// long for lavapipe, which breaks out of loops once one invocation has run 65535 iterations).
// Lowerings mark only the outer loop parallel, as a CPU splits nothing deeper.
//
// flattenParallelLoops first marks parallel the serial loops, directly below the parallel
// loop, whose iterations touch disjoint elements: every buffer stored in the loop is stored
// and loaded only at positions indexed by the loop's variable itself (or a let copying it),
// and so is every operand that may share its memory (the memory plan computes a node in place
// only over an operand of the result's shape and dtype size, and never a noalias kernel's);
// no accumulator from outside is assigned, and no barrier
// or group reduction is inside. Where the body of the innermost such loop is not one
// independent loop, it tries to make it one: a serial loop of lets and an inner serial loop
// is interchanged with that inner loop, and consecutive serial loops of one extent are fused
// (a matmul's i-p-j row, written for a CPU's vector units, becomes j-p, with its columns
// parallel and each thread's loop only as long as the reduction). The rewrite is kept only
// when its result is independent as above, which also makes it right. Then it fuses the
// perfect nest of parallel loops at the top into one loop over the product of their extents,
// whose body recomputes each original index from the flat one (a quotient and a remainder).

#include "backend/kernel/kernel_ir.h"

namespace kiln::kernel {

/// The kernel with its top-level nest of independent loops made one parallel loop, as above;
/// a kernel with no such nest comes back unchanged.
Kernel flattenParallelLoops(Kernel k);

} // namespace kiln::kernel
