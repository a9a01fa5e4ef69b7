#pragma once
// The host steps of a GPU program over the graph it was built from: each step is a few nodes
// (one node without a kernel, or a fusion group whose kernel the device lacks) computed on
// their reference kernels. Uses ir only, so kiln-run computes host steps without the rest of
// the backend.

#include "ir/graph.h"
#include "runtime/gpu/program_executable.h"

#include <memory>
#include <vector>

namespace kiln::gpu {

/// A value of the graph by position: an input (node -1), or a result of a node.
struct ValueRef {
  int node = -1; ///< index into Graph::nodes(), or -1 for an input
  int index = 0; ///< the input's, or the result's
};

/// The nodes of one host step and the values it reads and writes.
struct HostNodes {
  std::vector<int> nodes;               ///< indices into Graph::nodes(), in order
  std::vector<ValueRef> inputs, stored; ///< in HostStep::inputs and stored order
};

/// The value a reference names; throws Error when the graph has none there.
const Value *resolve(const Graph &graph, const ValueRef &ref);

/// Evaluates the host steps of a program: step `HostStep::id` is `steps[id]`. Throws Error when
/// an integer operand is beyond what the reference kernels compute exactly (2^53).
HostSteps graphHostSteps(std::shared_ptr<const Graph> graph, std::vector<HostNodes> steps);

} // namespace kiln::gpu
