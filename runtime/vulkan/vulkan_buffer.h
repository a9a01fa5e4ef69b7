#pragma once
// A storage buffer on a Vulkan device and its memory. Where the device has memory that is
// device-local, host-visible and coherent (integrated GPUs, lavapipe) the buffer lives there
// and is read and written through a mapping; elsewhere it is device-local and every read or
// write goes through a host-visible staging buffer and a copy on the queue.

#include "runtime/vulkan/vulkan_device.h"

#include <cstddef>
#include <memory>
#include <span>

namespace kiln::vulkan {

/// Where a buffer's memory is.
enum class Memory {
  Auto,       ///< mapped device memory where the device has it, else device memory and staging
  Staging,    ///< host-visible memory: the copies of a buffer that is not
  DeviceOnly, ///< device memory reached through staging copies even where it could be mapped
};

/// One VkBuffer with its own memory. Not copyable.
class Buffer {
public:
  /// A buffer of at least `bytes` bytes (at least 16: Vulkan has no empty buffers).
  Buffer(std::shared_ptr<const Device> device, int64_t bytes, Memory memory = Memory::Auto);
  ~Buffer();
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;

  /// The VkBuffer.
  VkBuffer handle() const { return buffer_; }
  /// The bytes asked for.
  int64_t size() const { return size_; }
  /// Whether the host reads and writes it through a mapping.
  bool mapped() const { return mapped_ != nullptr; }

  /// Copies `bytes` into the buffer at `offset`. Call it between runs, not while the queue
  /// uses the buffer.
  void write(int64_t offset, std::span<const std::byte> bytes);
  /// Copies `out.size()` bytes from `offset` into `out`.
  void read(int64_t offset, std::span<std::byte> out) const;

private:
  std::shared_ptr<const Device> device_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  std::byte *mapped_ = nullptr;
  int64_t size_ = 0;
};

} // namespace kiln::vulkan
