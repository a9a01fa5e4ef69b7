// Descriptor sets and the command buffer of a sequence of dispatches, with the barriers
// between dependent ones.

#include "runtime/vulkan/vulkan_commands.h"

#include "ir/diagnostics.h"

#include <algorithm>

namespace kiln::vulkan {
namespace {

/// Bytes bound for a range: an empty one still binds some (a binding must not be empty).
constexpr int64_t kMinRange = 4;

void barrier(const Api &api, VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src,
             VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
  VkMemoryBarrier b{
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
  api.vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &b, 0, nullptr, 0, nullptr);
}

} // namespace

bool overlaps(const BufferRange &a, const BufferRange &b) {
  int64_t ea = a.offset + std::max(a.size, kMinRange), eb = b.offset + std::max(b.size, kMinRange);
  return a.buffer == b.buffer && a.offset < eb && b.offset < ea;
}

std::vector<size_t> barriersBefore(const std::vector<Dispatch> &dispatches) {
  std::vector<size_t> before;
  std::vector<BufferRange> read, written; // since the last barrier
  for (size_t d = 0; d < dispatches.size(); ++d) {
    bool depends = false;
    for (const BufferRange &r : dispatches[d].bindings) {
      for (const BufferRange &w : written)
        depends = depends || overlaps(r, w);
      if (r.written)
        for (const BufferRange &x : read)
          depends = depends || overlaps(r, x);
    }
    if (depends) {
      before.push_back(d);
      read.clear();
      written.clear();
    }
    for (const BufferRange &r : dispatches[d].bindings)
      (r.written ? written : read).push_back(r);
  }
  return before;
}

CommandList::CommandList(std::shared_ptr<const Device> device, std::vector<Dispatch> dispatches)
    : device_(std::move(device)), dispatches_(std::move(dispatches)) {
  const Api &api = device_->api();
  VkDevice dev = device_->handle();
  struct Guard {
    CommandList *c;
    bool done = false;
    ~Guard() {
      if (!done)
        c->release();
    }
  } guard{this};

  uint32_t sets = 0, descriptors = 0;
  for (const Dispatch &d : dispatches_) {
    KILN_ASSERT(static_cast<int>(d.bindings.size()) == d.pipeline->bindings(),
                "a dispatch binds other buffers than its pipeline's layout has");
    ++sets;
    descriptors += static_cast<uint32_t>(d.bindings.size());
  }
  std::vector<VkDescriptorSet> set(sets, VK_NULL_HANDLE);
  if (sets) {
    VkDescriptorPoolSize size{.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              .descriptorCount = std::max<uint32_t>(descriptors, 1)};
    VkDescriptorPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                    .maxSets = sets,
                                    .poolSizeCount = 1,
                                    .pPoolSizes = &size};
    check(api.vkCreateDescriptorPool(dev, &pool, nullptr, &pool_), "vkCreateDescriptorPool");
    std::vector<VkDescriptorSetLayout> layouts;
    for (const Dispatch &d : dispatches_)
      layouts.push_back(d.pipeline->setLayout());
    VkDescriptorSetAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = pool_,
                                      .descriptorSetCount = sets,
                                      .pSetLayouts = layouts.data()};
    check(api.vkAllocateDescriptorSets(dev, &alloc, set.data()), "vkAllocateDescriptorSets");
    std::vector<VkDescriptorBufferInfo> infos;
    infos.reserve(descriptors);
    std::vector<VkWriteDescriptorSet> writes;
    for (size_t d = 0; d < dispatches_.size(); ++d)
      for (size_t b = 0; b < dispatches_[d].bindings.size(); ++b) {
        const BufferRange &r = dispatches_[d].bindings[b];
        KILN_ASSERT(r.offset % device_->limits().min_storage_offset_alignment == 0,
                    "a binding's offset breaks minStorageBufferOffsetAlignment");
        KILN_ASSERT(r.offset + std::max(r.size, kMinRange) <=
                        std::max<int64_t>(r.buffer->size(), 16),
                    "a binding reaches past its buffer");
        infos.push_back(VkDescriptorBufferInfo{
            .buffer = r.buffer->handle(),
            .offset = static_cast<VkDeviceSize>(r.offset),
            .range = static_cast<VkDeviceSize>(std::max(r.size, kMinRange))});
        writes.push_back(VkWriteDescriptorSet{.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                              .dstSet = set[d],
                                              .dstBinding = static_cast<uint32_t>(b),
                                              .descriptorCount = 1,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .pBufferInfo = &infos.back()});
      }
    if (!writes.empty())
      api.vkUpdateDescriptorSets(dev, static_cast<uint32_t>(writes.size()), writes.data(), 0,
                                 nullptr);
  }

  auto held = device_->lock();
  VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = device_->commandPool(),
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  check(api.vkAllocateCommandBuffers(dev, &alloc, &commands_), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  check(api.vkBeginCommandBuffer(commands_, &begin), "vkBeginCommandBuffer");
  barrier(api, commands_, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
          VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  std::vector<size_t> before = barriersBefore(dispatches_);
  barriers_ = static_cast<int64_t>(before.size());
  size_t next = 0;
  for (size_t d = 0; d < dispatches_.size(); ++d) {
    if (next < before.size() && before[next] == d) {
      barrier(api, commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
              VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
              VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
              VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      ++next;
    }
    const Dispatch &dispatch = dispatches_[d];
    api.vkCmdBindPipeline(commands_, VK_PIPELINE_BIND_POINT_COMPUTE, dispatch.pipeline->handle());
    api.vkCmdBindDescriptorSets(commands_, VK_PIPELINE_BIND_POINT_COMPUTE,
                                dispatch.pipeline->layout(), 0, 1, &set[d], 0, nullptr);
    api.vkCmdDispatch(commands_, dispatch.workgroups, 1, 1);
  }
  barrier(api, commands_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
          VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
  check(api.vkEndCommandBuffer(commands_), "vkEndCommandBuffer");
  guard.done = true;
}

CommandList::~CommandList() { release(); }

void CommandList::release() {
  auto held = device_->lock();
  const Api &api = device_->api();
  VkDevice dev = device_->handle();
  if (commands_)
    api.vkFreeCommandBuffers(dev, device_->commandPool(), 1, &commands_);
  if (pool_)
    api.vkDestroyDescriptorPool(dev, pool_, nullptr);
  commands_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
}

void CommandList::run() const { device_->submitAndWait({commands_}); }

} // namespace kiln::vulkan
