#include "ir/diagnostics.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln {

std::string Location::str() const {
  if (!known())
    return "<unknown>";
  // The file name may come from a loc(...) in IR text: any bytes at all.
  std::string name = escapeBytes(file);
  if (line <= 0)
    return name;
  if (col > 0)
    return fmt::format("{}:{}:{}", name, line, col);
  return fmt::format("{}:{}", name, line);
}

Location Location::fromSource(const std::source_location &loc) {
  return Location{loc.file_name(), static_cast<int>(loc.line()), static_cast<int>(loc.column())};
}

Error::Error(Location loc, std::string message)
    : std::runtime_error(fmt::format("{}: error: {}", loc.str(), message)), loc_(std::move(loc)),
      message_(std::move(message)) {}

namespace {

/// The length of the well-formed UTF-8 character of two to four bytes at the start of `s`, from
/// U+00A0 up (the C1 controls below it are escaped like the ASCII ones), or 0.
size_t utf8CharLength(std::string_view s) {
  auto byte = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  auto continuation = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return byte(i) >= lo && byte(i) <= hi;
  };
  unsigned b0 = byte(0);
  if (b0 == 0xC2)
    return continuation(1, 0xA0) ? 2 : 0;
  if (b0 >= 0xC3 && b0 <= 0xDF)
    return continuation(1) ? 2 : 0;
  // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code points
  // beyond U+10FFFF (F4).
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    return continuation(1, lo, hi) && continuation(2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return continuation(1, lo, hi) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

} // namespace

size_t characterLength(std::string_view bytes) {
  if (bytes.empty())
    return 0;
  return std::max<size_t>(utf8CharLength(bytes), 1);
}

std::string escapeBytes(std::string_view bytes, char quote) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    char c = bytes[i];
    if (size_t n = utf8CharLength(bytes.substr(i))) {
      out += bytes.substr(i, n);
      i += n;
      continue;
    }
    ++i;
    if (c == '\\' || (quote && c == quote)) {
      out += '\\';
      out += c;
    } else if (c == '\0') {
      out += "\\0";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c >= 0x20 && c < 0x7F) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string quoteBytes(std::string_view bytes, char quote) {
  return quote + escapeBytes(bytes, quote) + quote;
}

void assertionFailed(const char *expr, const char *file, int line, const char *msg) {
  std::fprintf(stderr, "%s:%d: internal error: assertion `%s` failed: %s\n", file, line, expr, msg);
  std::abort();
}

} // namespace kiln
