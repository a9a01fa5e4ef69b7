// Compute pipelines and their cache.

#include "runtime/vulkan/vulkan_pipeline.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <vector>

namespace kiln::vulkan {

Pipeline::Pipeline(std::shared_ptr<const Device> device, std::span<const uint32_t> spirv,
                   int bindings, std::string name)
    : device_(std::move(device)), bindings_(bindings), name_(std::move(name)) {
  if (spirv.empty())
    throw Error({}, fmt::format("--backend vulkan: kernel {} has no SPIR-V", name_));
  if (bindings > static_cast<int>(device_->limits().max_bindings))
    throw Error({}, fmt::format("--backend vulkan: kernel {} binds {} buffers; {} allows {}", name_,
                                bindings, device_->name(), device_->limits().max_bindings));
  const Api &api = device_->api();
  VkDevice dev = device_->handle();
  // Releases what was made before a failure.
  struct Guard {
    Pipeline *p;
    bool done = false;
    ~Guard() {
      if (!done)
        p->release();
    }
  } guard{this};
  VkShaderModuleCreateInfo module{.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                  .codeSize = spirv.size() * sizeof(uint32_t),
                                  .pCode = spirv.data()};
  check(api.vkCreateShaderModule(dev, &module, nullptr, &module_),
        fmt::format("vkCreateShaderModule of kernel {}", name_));
  std::vector<VkDescriptorSetLayoutBinding> slots;
  for (int b = 0; b < bindings; ++b)
    slots.push_back(
        VkDescriptorSetLayoutBinding{.binding = static_cast<uint32_t>(b),
                                     .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                     .descriptorCount = 1,
                                     .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT});
  VkDescriptorSetLayoutCreateInfo set{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                      .bindingCount = static_cast<uint32_t>(slots.size()),
                                      .pBindings = slots.data()};
  check(api.vkCreateDescriptorSetLayout(dev, &set, nullptr, &set_layout_),
        "vkCreateDescriptorSetLayout");
  VkPipelineLayoutCreateInfo layout{.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                    .setLayoutCount = 1,
                                    .pSetLayouts = &set_layout_};
  check(api.vkCreatePipelineLayout(dev, &layout, nullptr, &layout_), "vkCreatePipelineLayout");
  VkComputePipelineCreateInfo info{
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module_,
                .pName = "main"},
      .layout = layout_};
  check(api.vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &info, nullptr, &pipeline_),
        fmt::format("vkCreateComputePipelines of kernel {}", name_));
  guard.done = true;
}

Pipeline::~Pipeline() { release(); }

void Pipeline::release() {
  const Api &api = device_->api();
  VkDevice dev = device_->handle();
  if (pipeline_)
    api.vkDestroyPipeline(dev, pipeline_, nullptr);
  if (layout_)
    api.vkDestroyPipelineLayout(dev, layout_, nullptr);
  if (set_layout_)
    api.vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
  if (module_)
    api.vkDestroyShaderModule(dev, module_, nullptr);
  pipeline_ = VK_NULL_HANDLE;
  layout_ = VK_NULL_HANDLE;
  set_layout_ = VK_NULL_HANDLE;
  module_ = VK_NULL_HANDLE;
}

const CachedKernel *PipelineCache::find(const std::string &identity) const {
  auto it = kernels_.find(identity);
  return it == kernels_.end() ? nullptr : &it->second;
}

const CachedKernel &PipelineCache::insert(const std::string &identity, CachedKernel kernel) {
  return kernels_.insert_or_assign(identity, std::move(kernel)).first->second;
}

} // namespace kiln::vulkan
