#pragma once
// The seam between the Vulkan runtime and the SPIR-V code generator: the function the Vulkan
// backend is constructed with. `--backend vulkan` uses kiln::spirv::compileSpirv
// (vulkan_registration.cpp); the runtime's tests use hand-written shaders.
//
// The contract (backend/gpu/spirv/spirv_kernel.h): descriptor set 0, binding i is the i-th
// buffer of Kernel::parameters() (one storage buffer each, elements laid out as on the host); a
// kernel with traps takes its error slot (one int64 per trap, set to kernel::kTrapClear before
// the run) at binding parameters().size(). No push constants; entry point "main"; run as
// vkCmdDispatch(workgroups, 1, 1). A kernel with an empty binary is one the generator does
// not compute: its node runs on its reference kernel on the host.

#include "backend/gpu/spirv/spirv_kernel.h"

#include <functional>

namespace kiln::vulkan {

/// Compiles one kernel to SPIR-V: kiln::spirv::compileSpirv, or a test's hand-written shaders.
using SpirvCompiler = std::function<spirv::SpirvKernel(const kernel::Kernel &)>;

} // namespace kiln::vulkan
