#pragma once
// The kernels of a whole graph for the SPIR-V code generator, and their assembly as text.

#include "backend/gpu/spirv/spirv_kernel.h"
#include "ir/graph.h"

#include <string>
#include <vector>

namespace kiln::spirv {

/// The kernel of every lowered fusion group and node of a graph, in graph order, named as
/// kernel::printKernels names them (<op>_<node number>, group_<id>). Nodes without a lowering
/// are left out; `fallbacks`, when given, receives their kernel names.
std::vector<kernel::Kernel> graphKernels(const Graph &graph,
                                         std::vector<std::string> *fallbacks = nullptr);

/// The SPIR-V assembly of every kernel of a graph, each validated, and a line
/// `fallback @name: no kernel` for each node without one.
std::string printSpirv(const Graph &graph, const SpirvOptions &o = {});

} // namespace kiln::spirv
