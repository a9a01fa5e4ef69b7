// `--backend vulkan`: the Vulkan backend over kiln's SPIR-V code generator. Built only when
// backend/CMakeLists.txt sets KILN_VULKAN_BACKEND, which needs backend/gpu/spirv.

#include "backend/gpu/spirv/spirv_codegen.h"
#include "backend/gpu/vulkan/vulkan_backend.h"

namespace kiln {

const Backend &vulkanBackend() {
  static const vulkan::VulkanBackend backend(&spirv::compileSpirv);
  return backend;
}

} // namespace kiln
