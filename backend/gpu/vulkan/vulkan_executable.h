#pragma once
// The Vulkan backend's executable. Internal to backend/gpu/vulkan; others reach it through
// the backend (vulkan_backend.h).

#include "backend/backend.h"
#include "backend/gpu/vulkan/spirv_compiler.h"
#include "runtime/vulkan/vulkan_device.h"
#include "runtime/vulkan/vulkan_pipeline.h"
#include "backend/memory_plan.h"

#include <memory>

namespace kiln::vulkan {

/// The memory-plan options that fit a device: no arena larger than one storage-buffer binding
/// may span (maxStorageBufferRange), offsets aligned to minStorageBufferOffsetAlignment.
PlanOptions planOptionsFor(const Limits &limits);

/// Lowers every node and fusion group, compiles their kernels through `compiler` (once per
/// kernel identity, in `cache`), plans memory for the device, allocates its buffers and records
/// the dispatches. Nodes without a lowering, and kernels the compiler leaves empty, run on
/// their reference kernels on the host between dispatches.
std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &options,
                                         std::shared_ptr<const Device> device, PipelineCache &cache,
                                         const SpirvCompiler &compiler);

} // namespace kiln::vulkan
