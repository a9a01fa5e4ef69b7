#pragma once
// The CPU backend's executable. Internal to backend/cpu; others reach it through cpuBackend().

#include "backend/backend.h"

#include <memory>

namespace kiln::cpu {

/// Lowers every node, JIT-compiles the kernels in one module and schedules them in graph
/// order, with reference-kernel fallbacks for nodes without a lowering.
std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &options);

} // namespace kiln::cpu
