#pragma once
// Writing files so that readers see either the old file or the whole new one.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace kiln {

/// Writes `bytes` to a fresh temporary file next to `path`, flushes it to disk, then renames
/// it over `path`. On failure (a full disk, a file-size limit) the temporary file is removed, the
/// file at `path` is left as it was, and an Error names the path and says so.
void writeFileAtomically(const std::string &path, std::span<const std::byte> bytes);

/// The same for text.
void writeFileAtomically(const std::string &path, std::string_view text);

} // namespace kiln
