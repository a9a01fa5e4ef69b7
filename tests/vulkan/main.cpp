// The doctest main of the Vulkan tests. They run on Mesa's lavapipe on every machine: unless
// KILN_VULKAN_DEVICE or VK_ICD_FILENAMES says otherwise, the loader is pointed at lavapipe's
// ICD alone before any instance exists. Set KILN_VULKAN_DEVICE (an index or a name substring)
// to run them on a GPU instead. Compiled shaders are kept in the build tree's kernel cache.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tests/test_environment.h"

int main(int argc, char **argv) {
  kiln::test::setTestEnvironment(KILN_TEST_CACHE_DIR);
  doctest::Context context(argc, argv);
  return context.run();
}
