// The Vulkan device layer: the choice of a physical device, creation on lavapipe with its
// features and limits, the one-line errors when there is no device, and buffer round trips.

#include "runtime/vulkan/vulkan_buffer.h"
#include "runtime/vulkan/vulkan_device.h"
#include "ir/diagnostics.h"
#include "vulkan_test_util.h"

#include <cstring>
#include <optional>
#include <random>

using namespace kiln;
using namespace kiln::vulkan;

namespace {

/// Sets an environment variable for a scope, restoring the old value after.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    if (const char *old = std::getenv(name))
      old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

private:
  const char *name_;
  std::optional<std::string> old_;
};

std::string createError() {
  try {
    Device::create();
  } catch (const Error &e) {
    return e.message();
  }
  return "";
}

std::string chooseError(const std::vector<DeviceInfo> &devices, const char *selector) {
  try {
    chooseDevice(devices, selector);
  } catch (const Error &e) {
    return e.message();
  }
  return "";
}

} // namespace

TEST_CASE("vulkan: a GPU is preferred to a CPU device unless KILN_VULKAN_DEVICE chooses") {
  std::vector<DeviceInfo> devices = {
      {"llvmpipe (LLVM 15.0.6, 256 bits)", VK_PHYSICAL_DEVICE_TYPE_CPU},
      {"Intel(R) UHD Graphics", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU},
      {"NVIDIA H200", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU}};
  CHECK(chooseDevice(devices, nullptr) == 2);
  CHECK(chooseDevice(devices, "") == 2);
  CHECK(chooseDevice({devices[0], devices[1]}, nullptr) == 1);
  CHECK(chooseDevice({devices[0]}, nullptr) == 0);
  CHECK(chooseDevice(devices, "0") == 0);
  CHECK(chooseDevice(devices, "1") == 1);
  CHECK(chooseDevice(devices, "LLVMpipe") == 0);
  CHECK(chooseDevice(devices, "h200") == 2);
  CHECK(chooseError(devices, "3") ==
        "--backend vulkan: no Vulkan device matches KILN_VULKAN_DEVICE=3 (devices: "
        "0 llvmpipe (LLVM 15.0.6, 256 bits) (CPU), 1 Intel(R) UHD Graphics "
        "(integrated GPU), 2 NVIDIA H200 (discrete GPU))");
  CHECK(chooseError({}, nullptr) == kNoDevice);
}

TEST_CASE("vulkan: a device on lavapipe, with the features kernels need") {
  if (!test::haveVulkan())
    return;
  std::shared_ptr<const Device> d = test::testDevice();
  MESSAGE("device: " << d->name());
  const Features &f = d->features();
  CHECK(f.int64);
  CHECK(f.storage8);
  CHECK(f.storage16);
  CHECK(d->limits().max_storage_buffer_range > 0);
  CHECK(d->limits().min_storage_offset_alignment >= 1);
  CHECK(d->limits().max_workgroups_x >= 65535);
  const char *icd = std::getenv("VK_ICD_FILENAMES");
  if (icd && std::string(icd) == test::kLavapipeIcd) {
    CHECK(d->name().find("llvmpipe") != std::string::npos);
    CHECK(d->type() == VK_PHYSICAL_DEVICE_TYPE_CPU);
    CHECK(d->mappable());
    CHECK(d->limits().max_storage_buffer_range == int64_t{128} << 20);
    CHECK(f.float64);
    CHECK(f.int64_atomics);
  }
}

TEST_CASE("vulkan: no device is one line of error, never a crash") {
  if (!test::haveVulkan())
    return;
  {
    ScopedEnv env("KILN_VULKAN_DEVICE", "nonexistent");
    std::string e = createError();
    CHECK(e.find("--backend vulkan: no Vulkan device matches KILN_VULKAN_DEVICE=nonexistent "
                 "(devices: 0 ") == 0);
    CHECK(e.find('\n') == std::string::npos);
  }
  {
    ScopedEnv icd("VK_ICD_FILENAMES", "/nonexistent/kiln_icd.json");
    CHECK(createError() == kNoDevice);
  }
  // The environment is back: a device is made again.
  CHECK(createError() == "");
}

TEST_CASE("vulkan: buffers round-trip bytes, whole and at offsets") {
  if (!test::haveVulkan())
    return;
  std::shared_ptr<const Device> d = test::testDevice();
  std::mt19937 rng(7);
  std::vector<std::byte> bytes(4099);
  for (std::byte &b : bytes)
    b = static_cast<std::byte>(rng() & 0xFF);
  Buffer buffer(d, static_cast<int64_t>(bytes.size()));
  CHECK(buffer.size() == 4099);
  buffer.write(0, bytes);
  std::vector<std::byte> back(bytes.size());
  buffer.read(0, back);
  CHECK(back == bytes);

  std::vector<std::byte> patch(100, std::byte{0x5A});
  buffer.write(1000, patch);
  std::copy(patch.begin(), patch.end(), bytes.begin() + 1000);
  std::vector<std::byte> middle(300);
  buffer.read(900, middle);
  CHECK(std::equal(middle.begin(), middle.end(), bytes.begin() + 900));

  // A staging buffer is host-visible on every device.
  Buffer staging(d, 64, Memory::Staging);
  CHECK(staging.mapped());
  staging.write(0, std::span(bytes).first(64));
  std::vector<std::byte> first(64);
  staging.read(0, first);
  CHECK(std::equal(first.begin(), first.end(), bytes.begin()));

  // Device memory that is not mapped goes through staging copies, as on a discrete GPU.
  Buffer device_only(d, static_cast<int64_t>(bytes.size()), Memory::DeviceOnly);
  CHECK_FALSE(device_only.mapped());
  device_only.write(0, bytes);
  device_only.write(1000, patch);
  std::vector<std::byte> staged(bytes.size());
  device_only.read(0, staged);
  CHECK(staged == bytes);
}
