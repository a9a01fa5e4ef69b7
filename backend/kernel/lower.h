#pragma once
// Lowering from graph nodes to kernels. Each op family has its own file of lowerings, and the
// table that maps op handles to them lives in backend/, so ir/ never learns about backends.
// A node's kernel takes its operands as buffers %in0, %in1, ... and its results as %out0, ...,
// in that order; a buffer's shape is the kernel's view of its elements, so a reshape or a
// collapsed loop nest needs no copy.

#include "backend/kernel/kernel_ir.h"
#include "ir/graph.h"

#include <optional>
#include <string>

namespace kiln::kernel {

/// The kernel that computes a node, or nullopt when its op (or this use of it) has no
/// lowering. The kernel is named after the op.
std::optional<Kernel> lowerNode(const Node &node);
/// Whether lowerNode gives a kernel for this node.
bool hasLowering(const Node &node);
/// The printed kernel of every lowered node, and a line naming each node that falls back to
/// its reference kernel; kernels are named <op>_<node number>.
std::string printKernels(const Graph &graph);

} // namespace kiln::kernel
