#pragma once
// The CPU backend's executable. Internal to backend/cpu; others reach it through cpuBackend().

#include "backend/backend.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::cpu {

/// Where an executable keeps the values of its graph.
enum class Placement {
  Planned,           ///< as the memory plan says: shared arenas, in-place updates
  OneBufferPerValue, ///< every node result in its own buffer (the plan's baseline, for tests)
};

/// Lowers every node, JIT-compiles the kernels in one module (or takes them from the compile
/// cache) and schedules them in graph order, with reference-kernel fallbacks for nodes without
/// a lowering.
std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &options,
                                         Placement placement = Placement::Planned);

/// What checkMemoryPlan finds wrong with the plan a CPU executable runs by (empty: sound).
std::vector<std::string> checkExecutablePlan(const Executable &exe);

} // namespace kiln::cpu
