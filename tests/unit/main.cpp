// The one doctest main of the unit tests. Compiles read and write the CPU backend's kernel
// cache, so each run keeps it in a fresh folder of its own, never in the user's cache.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

int main(int argc, char **argv) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-test-cache-XXXXXX").string();
  bool made = ::mkdtemp(dir.data()) != nullptr;
  if (made)
    ::setenv("XDG_CACHE_HOME", dir.c_str(), 1);
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (made) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}
