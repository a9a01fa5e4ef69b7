#pragma once
// A GpuProgram on a Vulkan device: one storage buffer per program buffer, a compute pipeline
// per kernel (shared through a PipelineCache by kernel identity), and each stretch of
// dispatches between two host steps recorded once into one command buffer (vulkan_commands.h).

#include "runtime/gpu/program_executable.h"
#include "runtime/vulkan/vulkan_device.h"
#include "runtime/vulkan/vulkan_pipeline.h"

#include <memory>

namespace kiln::vulkan {

/// Makes a program's buffers and pipelines on `device` and records its dispatches; `cache`,
/// when given, shares pipelines between programs (the caller holds it for the call). Throws
/// Error with one line when the device cannot run it: a kernel without SPIR-V, a buffer larger
/// than a binding may span, f64 the device lacks, too many workgroups.
std::unique_ptr<gpu::DeviceProgram> makeVulkanProgram(const gpu::GpuProgram &program,
                                                      std::shared_ptr<const Device> device,
                                                      PipelineCache *cache = nullptr);

/// A Vulkan pipeline for a kernel, checked against the device (workgroups, f64); through
/// `cache` when given and the kernel has an identity.
std::shared_ptr<const Pipeline> pipelineFor(const gpu::ProgramKernel &k,
                                            const std::shared_ptr<const Device> &device,
                                            PipelineCache *cache);

} // namespace kiln::vulkan
