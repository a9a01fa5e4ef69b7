// Loading the Vulkan loader with dlopen and its entry points by name; VkResult checks.

#include "runtime/vulkan/vulkan_api.h"

#include "ir/diagnostics.h"

#include <dlfcn.h>
#include <fmt/format.h>

namespace kiln::vulkan {

Api &loadApi() {
  static Api api;
  static bool loaded = false;
  if (loaded)
    return api;
  void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw Error({}, std::string(kNoDevice) + ": no Vulkan loader (libvulkan.so.1)");
  api.vkGetInstanceProcAddr =
      reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
  if (!api.vkGetInstanceProcAddr)
    throw Error({}, std::string(kNoDevice) + ": the Vulkan loader lacks vkGetInstanceProcAddr");
#define KILN_VULKAN_LOAD(name)                                                                     \
  api.name = reinterpret_cast<PFN_##name>(api.vkGetInstanceProcAddr(nullptr, #name));
  KILN_VULKAN_GLOBAL_FUNCTIONS(KILN_VULKAN_LOAD)
#undef KILN_VULKAN_LOAD
  if (!api.vkCreateInstance)
    throw Error({}, std::string(kNoDevice) + ": the Vulkan loader lacks vkCreateInstance");
  loaded = true;
  return api;
}

void loadInstanceFunctions(Api &api, VkInstance instance) {
#define KILN_VULKAN_LOAD(name)                                                                     \
  api.name = reinterpret_cast<PFN_##name>(api.vkGetInstanceProcAddr(instance, #name));             \
  if (!api.name)                                                                                   \
    throw Error({}, "--backend vulkan: the Vulkan loader lacks " #name);
  KILN_VULKAN_INSTANCE_FUNCTIONS(KILN_VULKAN_LOAD)
#undef KILN_VULKAN_LOAD
}

std::string_view resultName(VkResult result) {
  switch (result) {
#define KILN_VULKAN_RESULT(r)                                                                      \
  case r:                                                                                          \
    return #r;
    KILN_VULKAN_RESULT(VK_SUCCESS)
    KILN_VULKAN_RESULT(VK_NOT_READY)
    KILN_VULKAN_RESULT(VK_TIMEOUT)
    KILN_VULKAN_RESULT(VK_INCOMPLETE)
    KILN_VULKAN_RESULT(VK_ERROR_OUT_OF_HOST_MEMORY)
    KILN_VULKAN_RESULT(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    KILN_VULKAN_RESULT(VK_ERROR_INITIALIZATION_FAILED)
    KILN_VULKAN_RESULT(VK_ERROR_DEVICE_LOST)
    KILN_VULKAN_RESULT(VK_ERROR_MEMORY_MAP_FAILED)
    KILN_VULKAN_RESULT(VK_ERROR_LAYER_NOT_PRESENT)
    KILN_VULKAN_RESULT(VK_ERROR_EXTENSION_NOT_PRESENT)
    KILN_VULKAN_RESULT(VK_ERROR_FEATURE_NOT_PRESENT)
    KILN_VULKAN_RESULT(VK_ERROR_INCOMPATIBLE_DRIVER)
    KILN_VULKAN_RESULT(VK_ERROR_TOO_MANY_OBJECTS)
    KILN_VULKAN_RESULT(VK_ERROR_FORMAT_NOT_SUPPORTED)
    KILN_VULKAN_RESULT(VK_ERROR_FRAGMENTED_POOL)
    KILN_VULKAN_RESULT(VK_ERROR_OUT_OF_POOL_MEMORY)
    KILN_VULKAN_RESULT(VK_ERROR_INVALID_SHADER_NV)
#undef KILN_VULKAN_RESULT
  default:
    return "VK_ERROR_UNKNOWN";
  }
}

void check(VkResult result, std::string_view what) {
  if (result == VK_SUCCESS)
    return;
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER && what == "vkCreateInstance")
    throw Error({}, std::string(kNoDevice));
  throw Error({}, fmt::format("--backend vulkan: {} failed: {}", what, resultName(result)));
}

} // namespace kiln::vulkan
