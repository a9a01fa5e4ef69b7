#pragma once
// The seam between the Vulkan runtime and a SPIR-V code generator: the generator's result type
// and the function the Vulkan backend is constructed with. The generator itself
// (backend/gpu/spirv/spirv_codegen.h, kiln::spirv::compileSpirv) declares SpirvKernel; until
// that header exists this one declares the same struct, so the runtime builds and is tested
// with hand-written kernels.
//
// The contract: descriptor set 0, binding i is the i-th buffer of Kernel::parameters() (one
// storage buffer each, elements laid out as on the host); a kernel with traps takes its error
// slot (one int64 per trap, set to kernel::kTrapClear before the run) at binding
// parameters().size(). No push constants; entry point "main"; run as
// vkCmdDispatch(workgroups, 1, 1). A kernel with an empty binary is one the generator does
// not compute: its node runs on its reference kernel on the host.

#include "backend/kernel/kernel_ir.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#if __has_include("backend/gpu/spirv/spirv_codegen.h")
#include "backend/gpu/spirv/spirv_codegen.h"
#else
namespace kiln::spirv {

/// A kernel compiled to SPIR-V.
struct SpirvKernel {
  std::string name;             ///< the kernel's name
  std::string assembly;         ///< SPIR-V assembly text
  std::vector<uint32_t> binary; ///< SPIR-V words
  int64_t workgroups = 0;       ///< vkCmdDispatch(workgroups, 1, 1)
  int workgroup_size = 0;       ///< invocations of a workgroup (LocalSize x)
  int64_t shared_bytes = 0;     ///< workgroup memory it uses
};

} // namespace kiln::spirv
#endif

namespace kiln::vulkan {

/// Compiles one kernel to SPIR-V: kiln::spirv::compileSpirv, or a test's hand-written shaders.
using SpirvCompiler = std::function<spirv::SpirvKernel(const kernel::Kernel &)>;

} // namespace kiln::vulkan
