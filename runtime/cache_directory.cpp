#include "runtime/cache_directory.h"

#include <cstdlib>
#include <filesystem>

namespace kiln {

std::string cacheDirectory() {
  // The XDG spec says relative paths in these variables are to be ignored.
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/')
    return (std::filesystem::path(xdg) / "kiln").string();
  if (const char *home = std::getenv("HOME"); home && home[0] == '/')
    return (std::filesystem::path(home) / ".cache" / "kiln").string();
  return {};
}

} // namespace kiln
