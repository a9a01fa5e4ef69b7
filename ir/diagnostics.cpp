#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln {

std::string Location::str() const {
  if (!known())
    return "<unknown>";
  if (line <= 0)
    return file;
  if (col > 0)
    return fmt::format("{}:{}:{}", file, line, col);
  return fmt::format("{}:{}", file, line);
}

Location Location::fromSource(const std::source_location &loc) {
  return Location{loc.file_name(), static_cast<int>(loc.line()), static_cast<int>(loc.column())};
}

Error::Error(Location loc, std::string message)
    : std::runtime_error(fmt::format("{}: error: {}", loc.str(), message)), loc_(std::move(loc)),
      message_(std::move(message)) {}

void assertionFailed(const char *expr, const char *file, int line, const char *msg) {
  std::fprintf(stderr, "%s:%d: internal error: assertion `%s` failed: %s\n", file, line, expr, msg);
  std::abort();
}

} // namespace kiln
