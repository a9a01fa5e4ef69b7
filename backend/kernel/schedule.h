#pragma once
// The kernels of a graph in launch order, with the graph values each kernel's parameters bind:
// what a code generator for another device (backend/gpu) compiles and a runtime launches. The
// order and the names are those of printKernels: a fusion group's kernel runs at its root.

#include "backend/kernel/kernel_ir.h"
#include "ir/graph.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::kernel {

/// One step of the schedule: a node (or a fusion group, at its root) and its kernel.
struct ScheduledKernel {
  std::string name;             ///< <op>_<node number>, or group_<id>
  const Node *node = nullptr;   ///< the node, or the group's root
  std::optional<Kernel> kernel; ///< nullopt: the node has no lowering (a reference fallback)
  /// The value each parameter binds, in the order of kernel->parameters(): the node's operands
  /// (the group's inputs), then its results (the group's stored values).
  std::vector<const Value *> values;
};

/// Every lowered node and fusion group of a graph in graph order, and its fallbacks.
std::vector<ScheduledKernel> scheduleKernels(const Graph &graph);

} // namespace kiln::kernel
