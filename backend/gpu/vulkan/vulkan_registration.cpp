// `--backend vulkan`: the Vulkan backend over kiln's SPIR-V code generator.

#include "backend/gpu/spirv/spirv_kernel.h"
#include "backend/gpu/vulkan/vulkan_backend.h"

namespace kiln {

const Backend &vulkanBackend() {
  static const vulkan::VulkanBackend backend(
      [](const kernel::Kernel &k) { return spirv::compileSpirv(k); });
  return backend;
}

} // namespace kiln
