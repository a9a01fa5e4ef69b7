// Storage buffers: creation, memory, mapped or staged reads and writes.

#include "runtime/vulkan/vulkan_buffer.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace kiln::vulkan {

Buffer::Buffer(std::shared_ptr<const Device> device, int64_t bytes, Memory memory)
    : device_(std::move(device)), size_(bytes) {
  const Api &api = device_->api();
  VkDevice dev = device_->handle();
  VkBufferCreateInfo info{.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                          .size = static_cast<VkDeviceSize>(std::max<int64_t>(bytes, 16)),
                          .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                   VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                   VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                          .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  check(api.vkCreateBuffer(dev, &info, nullptr, &buffer_), "vkCreateBuffer");
  VkMemoryRequirements req;
  api.vkGetBufferMemoryRequirements(dev, buffer_, &req);
  VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  bool staging = memory == Memory::Staging;
  bool map = staging || (memory == Memory::Auto && device_->mappable());
  std::optional<uint32_t> type =
      staging ? device_->memoryType(req.memoryTypeBits, host)
      : map   ? device_->memoryType(req.memoryTypeBits, host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)
              : device_->memoryType(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (!type)
    type = device_->memoryType(req.memoryTypeBits, 0);
  if (!type) {
    api.vkDestroyBuffer(dev, buffer_, nullptr);
    throw Error(
        {}, fmt::format("--backend vulkan: {} has no memory type for a buffer", device_->name()));
  }
  VkMemoryAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = *type};
  VkResult r = api.vkAllocateMemory(dev, &alloc, nullptr, &memory_);
  if (r != VK_SUCCESS) {
    api.vkDestroyBuffer(dev, buffer_, nullptr);
    throw Error({}, fmt::format("--backend vulkan: allocating {} bytes on {} failed: {}", bytes,
                                device_->name(), resultName(r)));
  }
  try {
    check(api.vkBindBufferMemory(dev, buffer_, memory_, 0), "vkBindBufferMemory");
    if (map) {
      void *p = nullptr;
      check(api.vkMapMemory(dev, memory_, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
      mapped_ = static_cast<std::byte *>(p);
    }
  } catch (...) {
    api.vkDestroyBuffer(dev, buffer_, nullptr);
    api.vkFreeMemory(dev, memory_, nullptr);
    throw;
  }
}

Buffer::~Buffer() {
  const Api &api = device_->api();
  if (mapped_)
    api.vkUnmapMemory(device_->handle(), memory_);
  api.vkDestroyBuffer(device_->handle(), buffer_, nullptr);
  api.vkFreeMemory(device_->handle(), memory_, nullptr);
}

void Buffer::write(int64_t offset, std::span<const std::byte> bytes) {
  KILN_ASSERT(offset >= 0 && offset + static_cast<int64_t>(bytes.size()) <= size_,
              "a write past the end of a Vulkan buffer");
  if (bytes.empty())
    return;
  if (mapped_) {
    std::memcpy(mapped_ + offset, bytes.data(), bytes.size());
    return;
  }
  Buffer stage(device_, static_cast<int64_t>(bytes.size()), Memory::Staging);
  stage.write(0, bytes);
  VkCommandBuffer cmd = device_->beginOneShot();
  VkBufferCopy region{
      .srcOffset = 0, .dstOffset = static_cast<VkDeviceSize>(offset), .size = bytes.size()};
  device_->api().vkCmdCopyBuffer(cmd, stage.handle(), buffer_, 1, &region);
  device_->finishOneShot(cmd);
}

void Buffer::read(int64_t offset, std::span<std::byte> out) const {
  KILN_ASSERT(offset >= 0 && offset + static_cast<int64_t>(out.size()) <= size_,
              "a read past the end of a Vulkan buffer");
  if (out.empty())
    return;
  if (mapped_) {
    std::memcpy(out.data(), mapped_ + offset, out.size());
    return;
  }
  Buffer stage(device_, static_cast<int64_t>(out.size()), Memory::Staging);
  VkCommandBuffer cmd = device_->beginOneShot();
  VkBufferCopy region{
      .srcOffset = static_cast<VkDeviceSize>(offset), .dstOffset = 0, .size = out.size()};
  device_->api().vkCmdCopyBuffer(cmd, buffer_, stage.handle(), 1, &region);
  device_->finishOneShot(cmd);
  stage.read(0, out);
}

} // namespace kiln::vulkan
