// The Vulkan backend's executable: the graph built into a GpuProgram (program_builder.h) with
// SPIR-V kernels, its buffers, pipelines and command buffers made on the device
// (runtime/vulkan/vulkan_program.h), and its host steps on the reference kernels. Kernels the
// device cannot run (f64 without shaderFloat64, loops longer than its loop limit) and kernels
// the compiler leaves empty run on the host.

#include "backend/gpu/vulkan/vulkan_executable.h"

#include "backend/gpu/program/program_builder.h"
#include "runtime/vulkan/vulkan_program.h"

namespace kiln::vulkan {

PlanOptions planOptionsFor(const Limits &limits) {
  int64_t align = kPlanAlignment;
  while (align % limits.min_storage_offset_alignment != 0)
    align *= 2;
  return PlanOptions{.max_buffer_bytes = limits.max_storage_buffer_range, .alignment = align};
}

std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &,
                                         std::shared_ptr<const Device> device, PipelineCache &cache,
                                         const SpirvCompiler &compiler) {
  gpu::ProgramTarget target;
  target.plan = planOptionsFor(device->limits());
  target.compile = [&](const kernel::Kernel &k) -> std::optional<gpu::ProgramKernel> {
    for (const kernel::Buffer &b : k.buffers)
      if (b.dtype == DType::f64 && !device->features().float64)
        return std::nullopt;
    // A kernel compiled before: its pipeline is in the cache, found by identity.
    if (const CachedKernel *c = cache.find(kernel::identity(k))) {
      if (!c->pipeline)
        return std::nullopt;
      return gpu::ProgramKernel{.workgroups = c->workgroups};
    }
    spirv::SpirvKernel s = compiler(k);
    int64_t most = device->limits().max_loop_iterations;
    if (s.binary.empty() || (most > 0 && s.loop_iterations > most)) {
      cache.insert(kernel::identity(k), CachedKernel{});
      return std::nullopt;
    }
    return gpu::ProgramKernel{.spirv = std::move(s.binary),
                              .workgroups = s.workgroups,
                              .loop_iterations = s.loop_iterations};
  };
  gpu::BuiltProgram built = gpu::buildProgram(graph, target);
  std::unique_ptr<gpu::DeviceProgram> on_device =
      makeVulkanProgram(*built.program, std::move(device), &cache);
  return std::make_unique<gpu::ProgramExecutable>(
      built.program, std::move(on_device), gpu::graphHostSteps(built.graph, std::move(built.host)));
}

} // namespace kiln::vulkan
