// The Vulkan backend: a device made on first use, a kernel cache, and the executable.

#include "backend/gpu/vulkan/vulkan_backend.h"

#include "backend/gpu/vulkan/vulkan_executable.h"
#include "backend/kernel/lower.h"

namespace kiln::vulkan {

VulkanBackend::VulkanBackend(SpirvCompiler compiler) : compiler_(std::move(compiler)) {}

bool VulkanBackend::supports(const Node &node) const { return kernel::hasLowering(node); }

std::shared_ptr<const Device> VulkanBackend::device() const {
  std::lock_guard lock(mutex_);
  if (!device_)
    device_ = Device::create();
  return device_;
}

std::unique_ptr<Executable> VulkanBackend::compile(const Graph &graph,
                                                   const CompileOptions &options) const {
  std::shared_ptr<const Device> d = device();
  std::lock_guard lock(mutex_);
  return compileGraph(graph, options, std::move(d), cache_, compiler_);
}

size_t VulkanBackend::compiledKernels() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

} // namespace kiln::vulkan
