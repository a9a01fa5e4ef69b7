#pragma once
// What every doctest main of the tests sets before any test runs. ctest's ENVIRONMENT property
// of doctest_discover_tests carries one variable only (the rest of its list is taken for other
// properties), so the variables a test binary needs are set here instead; only
// OMP_WAIT_POLICY, which OpenMP reads before main, stays in CMake.

#include <cstdlib>
#include <filesystem>

namespace kiln::test {

/// Lavapipe's ICD file as Debian's mesa-vulkan-drivers installs it.
inline constexpr const char *kLavapipeIcd = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// Keeps compiled kernels in `cache_dir` (never in the user's cache), and points the Vulkan
/// loader at lavapipe alone unless KILN_VULKAN_DEVICE or VK_ICD_FILENAMES says otherwise, so
/// that the tests run on Mesa's lavapipe on every machine.
inline void setTestEnvironment(const char *cache_dir) {
  ::setenv("XDG_CACHE_HOME", cache_dir, 1);
  if (!std::getenv("KILN_VULKAN_DEVICE") && !std::getenv("VK_ICD_FILENAMES") &&
      std::filesystem::exists(kLavapipeIcd))
    ::setenv("VK_ICD_FILENAMES", kLavapipeIcd, 1);
}

} // namespace kiln::test
