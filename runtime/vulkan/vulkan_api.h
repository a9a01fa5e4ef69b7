#pragma once
// The Vulkan entry points kiln calls, loaded at run time from the loader (libvulkan.so.1) with
// dlopen, so that a machine without a Vulkan loader gets an error instead of failing to start.
// Every function comes through vkGetInstanceProcAddr; device-level ones dispatch through the
// instance's table, which is enough for one device.

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <string_view>

namespace kiln::vulkan {

// X-macro lists of the entry points: global (before an instance exists) and instance-level.
#define KILN_VULKAN_GLOBAL_FUNCTIONS(X)                                                            \
  X(vkCreateInstance)                                                                              \
  X(vkEnumerateInstanceVersion)

#define KILN_VULKAN_INSTANCE_FUNCTIONS(X)                                                          \
  X(vkDestroyInstance)                                                                             \
  X(vkEnumeratePhysicalDevices)                                                                    \
  X(vkGetPhysicalDeviceProperties)                                                                 \
  X(vkGetPhysicalDeviceFeatures2)                                                                  \
  X(vkGetPhysicalDeviceQueueFamilyProperties)                                                      \
  X(vkGetPhysicalDeviceMemoryProperties)                                                           \
  X(vkCreateDevice)                                                                                \
  X(vkDestroyDevice)                                                                               \
  X(vkGetDeviceQueue)                                                                              \
  X(vkCreateBuffer)                                                                                \
  X(vkDestroyBuffer)                                                                               \
  X(vkGetBufferMemoryRequirements)                                                                 \
  X(vkAllocateMemory)                                                                              \
  X(vkFreeMemory)                                                                                  \
  X(vkBindBufferMemory)                                                                            \
  X(vkMapMemory)                                                                                   \
  X(vkUnmapMemory)                                                                                 \
  X(vkCreateShaderModule)                                                                          \
  X(vkDestroyShaderModule)                                                                         \
  X(vkCreateDescriptorSetLayout)                                                                   \
  X(vkDestroyDescriptorSetLayout)                                                                  \
  X(vkCreatePipelineLayout)                                                                        \
  X(vkDestroyPipelineLayout)                                                                       \
  X(vkCreateComputePipelines)                                                                      \
  X(vkDestroyPipeline)                                                                             \
  X(vkCreateDescriptorPool)                                                                        \
  X(vkDestroyDescriptorPool)                                                                       \
  X(vkAllocateDescriptorSets)                                                                      \
  X(vkUpdateDescriptorSets)                                                                        \
  X(vkCreateCommandPool)                                                                           \
  X(vkDestroyCommandPool)                                                                          \
  X(vkAllocateCommandBuffers)                                                                      \
  X(vkFreeCommandBuffers)                                                                          \
  X(vkBeginCommandBuffer)                                                                          \
  X(vkEndCommandBuffer)                                                                            \
  X(vkCmdBindPipeline)                                                                             \
  X(vkCmdBindDescriptorSets)                                                                       \
  X(vkCmdDispatch)                                                                                 \
  X(vkCmdPipelineBarrier)                                                                          \
  X(vkCmdCopyBuffer)                                                                               \
  X(vkCreateFence)                                                                                 \
  X(vkDestroyFence)                                                                                \
  X(vkResetFences)                                                                                 \
  X(vkWaitForFences)                                                                               \
  X(vkQueueSubmit)                                                                                 \
  X(vkDeviceWaitIdle)

/// The loaded entry points.
struct Api {
#define KILN_VULKAN_MEMBER(name) PFN_##name name = nullptr;
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
  KILN_VULKAN_GLOBAL_FUNCTIONS(KILN_VULKAN_MEMBER)
  KILN_VULKAN_INSTANCE_FUNCTIONS(KILN_VULKAN_MEMBER)
#undef KILN_VULKAN_MEMBER
};

/// The process's table, with the global entry points loaded. Throws Error (the one line that
/// says how to get a device) when there is no Vulkan loader.
Api &loadApi();

/// Loads the instance-level entry points of `instance` into `api`; throws Error when one lacks.
void loadInstanceFunctions(Api &api, VkInstance instance);

/// Throws Error "--backend vulkan: <what> failed: <result name>" unless `result` is VK_SUCCESS.
void check(VkResult result, std::string_view what);

/// The name of a VkResult ("VK_ERROR_OUT_OF_DEVICE_MEMORY").
std::string_view resultName(VkResult result);

/// The error of a machine with no usable Vulkan device.
inline constexpr std::string_view kNoDevice =
    "--backend vulkan: no Vulkan device (install mesa-vulkan-drivers for lavapipe)";

} // namespace kiln::vulkan
