// The doctest main of the Vulkan tests. They run on Mesa's lavapipe on every machine: unless
// KILN_VULKAN_DEVICE or VK_ICD_FILENAMES says otherwise, the loader is pointed at lavapipe's
// ICD alone before any instance exists. Set KILN_VULKAN_DEVICE (an index or a name substring)
// to run them on a GPU instead.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "vulkan_test_util.h"

#include <cstdlib>
#include <filesystem>

int main(int argc, char **argv) {
  if (!std::getenv("KILN_VULKAN_DEVICE") && !std::getenv("VK_ICD_FILENAMES") &&
      std::filesystem::exists(kiln::test::kLavapipeIcd))
    ::setenv("VK_ICD_FILENAMES", kiln::test::kLavapipeIcd, 1);
  doctest::Context context(argc, argv);
  return context.run();
}
