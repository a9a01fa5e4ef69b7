#pragma once
// A graph made into a GpuProgram: the graph preparation the CPU backend shares (groups that
// cannot be one kernel dissolved), the memory plan for the device's limits, one kernel per
// node or fusion group through the target's compiler, in node order, and a host step for each
// node or group that the compiler leaves without a kernel. Vulkan, CUDA and bundles build
// their programs here, so they share one schedule.

#include "backend/gpu/program/host_steps.h"
#include "backend/kernel/kernel_ir.h"
#include "backend/memory_plan.h"
#include "runtime/gpu/gpu_program.h"

#include <functional>
#include <memory>
#include <optional>

namespace kiln::gpu {

/// What a device asks of a program.
struct ProgramTarget {
  PlanOptions plan; ///< arenas no larger than a binding, offsets aligned for it
  /// Compiles a kernel (name, bindings and uses_f64 are filled in afterwards); nullopt leaves
  /// its nodes to the host. A kernel of no work (workgroups or grid 0) is counted but never
  /// launched.
  std::function<std::optional<ProgramKernel>(const kernel::Kernel &)> compile;
};

/// A program and what its host steps compute.
struct BuiltProgram {
  std::shared_ptr<GpuProgram> program;
  std::shared_ptr<const Graph> graph; ///< the prepared graph that host steps index
  std::vector<HostNodes> host;        ///< by HostStep::id
};

/// Builds the program of a graph for a target.
BuiltProgram buildProgram(const Graph &graph, const ProgramTarget &target);

} // namespace kiln::gpu
