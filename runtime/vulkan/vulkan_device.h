#pragma once
// A Vulkan device: the instance, the physical device chosen for kiln, a logical device with one
// compute queue and the features kernels need, its limits, memory types and a command pool.
//
// The choice: KILN_VULKAN_DEVICE=<index> or =<name substring> picks a device (the index is
// that of vkEnumeratePhysicalDevices, as `vulkaninfo --summary` lists them as GPU0, GPU1, ...);
// unset, a discrete GPU is preferred, then an integrated one, a virtual one, and last a CPU
// device such as Mesa's lavapipe. Which drivers the loader sees is the loader's business:
// VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json leaves lavapipe alone.

#include "runtime/vulkan/vulkan_api.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::vulkan {

/// What the choice of a physical device looks at.
struct DeviceInfo {
  std::string name;                                          ///< deviceName, "llvmpipe (...)"
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER; ///< discrete, integrated, cpu...
};

/// The index of the device to use: the one `selector` names (an index, or a case-insensitive
/// substring of its name) when it is set and not empty, else the first of the most preferred
/// type. Throws Error when no device is listed or none matches the selector.
size_t chooseDevice(const std::vector<DeviceInfo> &devices, const char *selector);

/// "discrete GPU", "integrated GPU", "virtual GPU", "CPU", "other".
std::string_view deviceTypeName(VkPhysicalDeviceType type);

/// Optional features of a device, as queried and enabled.
struct Features {
  bool float64 = false;       ///< shaderFloat64
  bool int64 = false;         ///< shaderInt64 (required)
  bool int16 = false;         ///< shaderInt16
  bool storage8 = false;      ///< storageBuffer8BitAccess (required: bool and i8 buffers)
  bool storage16 = false;     ///< storageBuffer16BitAccess (required: bf16 buffers)
  bool int64_atomics = false; ///< shaderBufferInt64Atomics (traps' OpAtomicSMin on i64)
};

/// The limits kiln plans by.
struct Limits {
  int64_t max_storage_buffer_range = 0;     ///< bytes one storage-buffer binding may span
  int64_t min_storage_offset_alignment = 1; ///< alignment of a binding's offset
  uint32_t max_workgroups_x = 0;            ///< maxComputeWorkGroupCount[0]
  uint32_t max_bindings = 0;                ///< maxPerStageDescriptorStorageBuffers
  /// The loop iterations one invocation may run before the driver breaks out of its loops
  /// (lavapipe's loop limiter: 65535); 0 where there is no such limit.
  int64_t max_loop_iterations = 0;
};

/// One logical device and what it was made from. Not copyable; shared by the executables and
/// buffers made on it. Its methods take the device's lock themselves.
class Device {
public:
  /// Creates the instance and the device that chooseDevice picks under KILN_VULKAN_DEVICE.
  /// Throws Error with one line when there is no loader, no device, no match or a required
  /// feature is missing.
  static std::shared_ptr<Device> create();
  ~Device();
  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

  /// The entry points.
  const Api &api() const { return *api_; }
  /// The logical device.
  VkDevice handle() const { return device_; }
  /// The compute queue.
  VkQueue queue() const { return queue_; }
  /// The pool of every command buffer made on the device (one thread at a time).
  VkCommandPool commandPool() const { return pool_; }
  /// deviceName.
  const std::string &name() const { return name_; }
  /// The device's type (VK_PHYSICAL_DEVICE_TYPE_CPU for lavapipe).
  VkPhysicalDeviceType type() const { return type_; }
  /// The optional features found (and enabled).
  const Features &features() const { return features_; }
  /// The limits kiln plans by.
  const Limits &limits() const { return limits_; }

  /// A memory type among `type_bits` with all of `flags`, or nullopt.
  std::optional<uint32_t> memoryType(uint32_t type_bits, VkMemoryPropertyFlags flags) const;
  /// Whether buffers can live in memory that is device-local, host-visible and coherent (no
  /// staging copies).
  bool mappable() const { return mappable_; }

  /// Holds the queue and the command pool for the caller: Vulkan wants submissions and the
  /// pool's allocations synchronised, and executables on one device may run on several threads.
  std::unique_lock<std::recursive_mutex> lock() const { return std::unique_lock(mutex_); }

  /// Submits command buffers and waits for them to finish.
  void submitAndWait(const std::vector<VkCommandBuffer> &commands) const;
  /// A primary command buffer from the pool, begun for one submission; free it after.
  VkCommandBuffer beginOneShot() const;
  /// Ends, submits, waits for and frees a command buffer from beginOneShot.
  void finishOneShot(VkCommandBuffer cmd) const;

private:
  Device() = default;

  Api *api_ = nullptr;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::string name_;
  VkPhysicalDeviceType type_ = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  Features features_;
  Limits limits_;
  VkPhysicalDeviceMemoryProperties memory_{};
  bool mappable_ = false;
  mutable std::recursive_mutex mutex_;
};

} // namespace kiln::vulkan
