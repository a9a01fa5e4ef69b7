// Instance, physical-device choice, logical device with a compute queue, features and limits.

#include "runtime/vulkan/vulkan_device.h"

#include "ir/diagnostics.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <link.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

namespace kiln::vulkan {

namespace {

/// The shared libraries this process has loaded.
std::set<std::string> loadedLibraries() {
  std::set<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *out) {
        if (info->dlpi_name && *info->dlpi_name)
          static_cast<std::set<std::string> *>(out)->insert(info->dlpi_name);
        return 0;
      },
      &names);
  return names;
}

/// Keeps the libraries that the loader loaded for an instance (the drivers and what they link)
/// loaded for the rest of the process. The loader unloads a driver when its instance goes;
/// drivers built on LLVM (lavapipe) keep process-wide state that does not survive being
/// unloaded and loaded again, and memory they keep for the process would look leaked once
/// their library is gone. Each is opened once more and never closed.
void keepDriversLoaded(const std::set<std::string> &before) {
  for (const std::string &name : loadedLibraries())
    if (!before.count(name))
      dlopen(name.c_str(), RTLD_NOW | RTLD_NOLOAD);
}

} // namespace
namespace {

/// Lower numbers are preferred.
int typeRank(VkPhysicalDeviceType type) {
  switch (type) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
    return 0;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
    return 1;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
    return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU:
    return 3;
  default:
    return 4;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string deviceList(const std::vector<DeviceInfo> &devices) {
  std::string list;
  for (size_t i = 0; i < devices.size(); ++i)
    list += fmt::format("{}{} {} ({})", i ? ", " : "", i, devices[i].name,
                        deviceTypeName(devices[i].type));
  return list;
}

} // namespace

std::string_view deviceTypeName(VkPhysicalDeviceType type) {
  switch (type) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
    return "discrete GPU";
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
    return "integrated GPU";
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
    return "virtual GPU";
  case VK_PHYSICAL_DEVICE_TYPE_CPU:
    return "CPU";
  default:
    return "other";
  }
}

size_t chooseDevice(const std::vector<DeviceInfo> &devices, const char *selector) {
  if (devices.empty())
    throw Error({}, std::string(kNoDevice));
  std::string want = selector ? selector : "";
  if (!want.empty()) {
    bool digits = std::all_of(want.begin(), want.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (digits && want.size() < 6 && std::stoul(want) < devices.size())
      return std::stoul(want);
    for (size_t i = 0; i < devices.size(); ++i)
      if (!digits && lower(devices[i].name).find(lower(want)) != std::string::npos)
        return i;
    throw Error({}, fmt::format("--backend vulkan: no Vulkan device matches KILN_VULKAN_DEVICE={} "
                                "(devices: {})",
                                want, deviceList(devices)));
  }
  size_t best = 0;
  for (size_t i = 1; i < devices.size(); ++i)
    if (typeRank(devices[i].type) < typeRank(devices[best].type))
      best = i;
  return best;
}

std::shared_ptr<Device> Device::create() {
  Api &api = loadApi();
  std::shared_ptr<Device> d(new Device());
  d->api_ = &api;
  uint32_t version = VK_API_VERSION_1_0;
  if (api.vkEnumerateInstanceVersion)
    check(api.vkEnumerateInstanceVersion(&version), "vkEnumerateInstanceVersion");
  if (version < VK_API_VERSION_1_2)
    throw Error({}, std::string(kNoDevice) + ": the Vulkan loader is older than 1.2");
  VkApplicationInfo app{.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                        .pApplicationName = "kiln",
                        .apiVersion = VK_API_VERSION_1_2};
  VkInstanceCreateInfo info{.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                            .pApplicationInfo = &app};
  std::set<std::string> before = loadedLibraries();
  VkResult created = api.vkCreateInstance(&info, nullptr, &d->instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER || created == VK_ERROR_INITIALIZATION_FAILED)
    throw Error({}, std::string(kNoDevice));
  check(created, "vkCreateInstance");
  loadInstanceFunctions(api, d->instance_);

  uint32_t count = 0;
  check(api.vkEnumeratePhysicalDevices(d->instance_, &count, nullptr),
        "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> physical(count);
  if (count)
    check(api.vkEnumeratePhysicalDevices(d->instance_, &count, physical.data()),
          "vkEnumeratePhysicalDevices");
  keepDriversLoaded(before);
  std::vector<DeviceInfo> infos;
  std::vector<VkPhysicalDeviceProperties> props(count);
  for (uint32_t i = 0; i < count; ++i) {
    api.vkGetPhysicalDeviceProperties(physical[i], &props[i]);
    infos.push_back(DeviceInfo{props[i].deviceName, props[i].deviceType});
  }
  size_t chosen = chooseDevice(infos, std::getenv("KILN_VULKAN_DEVICE"));
  d->physical_ = physical[chosen];
  d->name_ = infos[chosen].name;
  d->type_ = infos[chosen].type;
  const VkPhysicalDeviceProperties &p = props[chosen];
  if (p.apiVersion < VK_API_VERSION_1_2)
    throw Error({}, fmt::format("--backend vulkan: {} supports Vulkan {}.{} only; kiln needs 1.2",
                                d->name_, VK_API_VERSION_MAJOR(p.apiVersion),
                                VK_API_VERSION_MINOR(p.apiVersion)));
  d->limits_ = Limits{.max_storage_buffer_range = p.limits.maxStorageBufferRange,
                      .min_storage_offset_alignment = static_cast<int64_t>(
                          std::max<VkDeviceSize>(p.limits.minStorageBufferOffsetAlignment, 1)),
                      .max_workgroups_x = p.limits.maxComputeWorkGroupCount[0],
                      .max_bindings = p.limits.maxPerStageDescriptorStorageBuffers};
  // Mesa's llvmpipe (lavapipe) limits the loop iterations of one invocation: gallivm's
  // LP_MAX_TGSI_LOOP_ITERATIONS, shared by all of a shader's loops.
  if (d->type_ == VK_PHYSICAL_DEVICE_TYPE_CPU && d->name_.rfind("llvmpipe", 0) == 0)
    d->limits_.max_loop_iterations = 65535;

  VkPhysicalDeviceVulkan12Features f12{.sType =
                                           VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11{
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
  VkPhysicalDeviceFeatures2 f{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
  api.vkGetPhysicalDeviceFeatures2(d->physical_, &f);
  d->features_ = Features{.float64 = f.features.shaderFloat64 == VK_TRUE,
                          .int64 = f.features.shaderInt64 == VK_TRUE,
                          .int16 = f.features.shaderInt16 == VK_TRUE,
                          .storage8 = f12.storageBuffer8BitAccess == VK_TRUE,
                          .storage16 = f11.storageBuffer16BitAccess == VK_TRUE,
                          .int64_atomics = f12.shaderBufferInt64Atomics == VK_TRUE};
  for (auto [has, what] : {std::pair{d->features_.int64, "shaderInt64"},
                           std::pair{d->features_.storage8, "storageBuffer8BitAccess"},
                           std::pair{d->features_.storage16, "storageBuffer16BitAccess"}})
    if (!has)
      throw Error({}, fmt::format("--backend vulkan: {} lacks {}, which kiln's kernels need",
                                  d->name_, what));

  uint32_t families = 0;
  api.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_, &families, nullptr);
  std::vector<VkQueueFamilyProperties> family(families);
  api.vkGetPhysicalDeviceQueueFamilyProperties(d->physical_, &families, family.data());
  auto compute = std::find_if(family.begin(), family.end(), [](const VkQueueFamilyProperties &q) {
    return (q.queueFlags & VK_QUEUE_COMPUTE_BIT) != 0;
  });
  if (compute == family.end())
    throw Error({}, fmt::format("--backend vulkan: {} has no compute queue", d->name_));
  d->queue_family_ = static_cast<uint32_t>(compute - family.begin());

  // Enable what was found, and nothing else.
  VkPhysicalDeviceVulkan12Features e12{
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
      .storageBuffer8BitAccess = VK_TRUE,
      .shaderBufferInt64Atomics = d->features_.int64_atomics ? VK_TRUE : VK_FALSE};
  VkPhysicalDeviceVulkan11Features e11{.sType =
                                           VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                       .pNext = &e12,
                                       .storageBuffer16BitAccess = VK_TRUE};
  VkPhysicalDeviceFeatures2 e{.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &e11};
  e.features.shaderInt64 = VK_TRUE;
  e.features.shaderFloat64 = d->features_.float64 ? VK_TRUE : VK_FALSE;
  e.features.shaderInt16 = d->features_.int16 ? VK_TRUE : VK_FALSE;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                .queueFamilyIndex = d->queue_family_,
                                .queueCount = 1,
                                .pQueuePriorities = &priority};
  VkDeviceCreateInfo dev{.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                         .pNext = &e,
                         .queueCreateInfoCount = 1,
                         .pQueueCreateInfos = &queue};
  check(api.vkCreateDevice(d->physical_, &dev, nullptr, &d->device_), "vkCreateDevice");
  api.vkGetDeviceQueue(d->device_, d->queue_family_, 0, &d->queue_);

  VkCommandPoolCreateInfo pool{.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                               .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                               .queueFamilyIndex = d->queue_family_};
  check(api.vkCreateCommandPool(d->device_, &pool, nullptr, &d->pool_), "vkCreateCommandPool");
  VkFenceCreateInfo fence{.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  check(api.vkCreateFence(d->device_, &fence, nullptr, &d->fence_), "vkCreateFence");

  api.vkGetPhysicalDeviceMemoryProperties(d->physical_, &d->memory_);
  d->mappable_ =
      d->memoryType(~0u, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                             VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)
          .has_value();
  return d;
}

Device::~Device() {
  if (device_) {
    api_->vkDeviceWaitIdle(device_);
    if (fence_)
      api_->vkDestroyFence(device_, fence_, nullptr);
    if (pool_)
      api_->vkDestroyCommandPool(device_, pool_, nullptr);
    api_->vkDestroyDevice(device_, nullptr);
  }
  if (instance_)
    api_->vkDestroyInstance(instance_, nullptr);
}

std::optional<uint32_t> Device::memoryType(uint32_t type_bits, VkMemoryPropertyFlags flags) const {
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & flags) == flags)
      return i;
  return std::nullopt;
}

void Device::submitAndWait(const std::vector<VkCommandBuffer> &commands) const {
  if (commands.empty())
    return;
  auto held = lock();
  VkSubmitInfo submit{.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                      .commandBufferCount = static_cast<uint32_t>(commands.size()),
                      .pCommandBuffers = commands.data()};
  check(api_->vkResetFences(device_, 1, &fence_), "vkResetFences");
  check(api_->vkQueueSubmit(queue_, 1, &submit, fence_), "vkQueueSubmit");
  check(api_->vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
}

VkCommandBuffer Device::beginOneShot() const {
  auto held = lock();
  VkCommandBufferAllocateInfo alloc{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = pool_,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  check(api_->vkAllocateCommandBuffers(device_, &alloc, &cmd), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo begin{.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VkResult r = api_->vkBeginCommandBuffer(cmd, &begin);
  if (r != VK_SUCCESS)
    api_->vkFreeCommandBuffers(device_, pool_, 1, &cmd);
  check(r, "vkBeginCommandBuffer");
  return cmd;
}

void Device::finishOneShot(VkCommandBuffer cmd) const {
  auto held = lock();
  struct Free {
    const Device *d;
    VkCommandBuffer cmd;
    ~Free() { d->api_->vkFreeCommandBuffers(d->device_, d->pool_, 1, &cmd); }
  } free{this, cmd};
  check(api_->vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  submitAndWait({cmd});
}

} // namespace kiln::vulkan
