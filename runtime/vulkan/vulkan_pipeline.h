#pragma once
// Compute pipelines from SPIR-V binaries: a shader module, a descriptor set layout of N storage
// buffers (set 0, bindings 0..N-1, no push constants), its pipeline layout and the pipeline
// with entry point "main". A cache keyed by a kernel's identity compiles equal kernels once.

#include "runtime/vulkan/vulkan_device.h"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace kiln::vulkan {

/// One compute pipeline and the layouts it was made with. Not copyable.
class Pipeline {
public:
  /// Creates the pipeline of `spirv` (SPIR-V words) whose descriptor set 0 has `bindings`
  /// storage buffers. Throws Error when the driver rejects the module.
  Pipeline(std::shared_ptr<const Device> device, std::span<const uint32_t> spirv, int bindings,
           std::string name);
  ~Pipeline();
  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;

  /// The compute pipeline.
  VkPipeline handle() const { return pipeline_; }
  /// Its pipeline layout: set 0, no push constants.
  VkPipelineLayout layout() const { return layout_; }
  /// The layout of set 0.
  VkDescriptorSetLayout setLayout() const { return set_layout_; }
  /// The number of storage-buffer bindings of set 0.
  int bindings() const { return bindings_; }
  /// The kernel's name, for messages.
  const std::string &name() const { return name_; }

private:
  /// Destroys the handles made so far.
  void release();

  std::shared_ptr<const Device> device_;
  VkShaderModule module_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  int bindings_ = 0;
  std::string name_;
};

/// A compiled kernel as a dispatch needs it.
struct CachedKernel {
  std::shared_ptr<const Pipeline> pipeline; ///< nullptr: the compiler has no kernel for it
  uint32_t workgroups = 1;                  ///< vkCmdDispatch(workgroups, 1, 1)
};

/// Compiled kernels by kernel identity (kernel::identity), shared by every executable on a
/// device, so that equal kernels are compiled once.
class PipelineCache {
public:
  /// The entry of this identity, or nullptr.
  const CachedKernel *find(const std::string &identity) const;
  /// Caches an entry under an identity and returns it.
  const CachedKernel &insert(const std::string &identity, CachedKernel kernel);
  /// How many kernels are cached.
  size_t size() const { return kernels_.size(); }

private:
  std::map<std::string, CachedKernel> kernels_;
};

} // namespace kiln::vulkan
