#pragma once
// The CPU backend's compile cache: a program's machine code under a key that names everything
// it depends on (jit.cpp builds that identity), kept for the process in memory and on disk as
// object files in $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. A disk entry is never trusted: a
// bad magic, another key, a wrong length or checksum make it a miss, and the rebuilt entry
// replaces it atomically.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::cpu {

class JitKernels;

/// The key of a program: the hex SHA-256 of its identity text.
std::string cacheKey(std::string_view identity);

/// The file that holds the entry of a key, or empty when there is no cache folder.
std::string cachePath(const std::string &key);

/// The object file stored under the key, or nullopt when it is missing or fails a check.
std::optional<std::vector<char>> readCachedObject(const std::string &key);

/// Stores an object file under the key, atomically; false when the folder cannot be written
/// (the cache is an optimisation, so the caller carries on).
bool writeCachedObject(const std::string &key, std::span<const char> object);

/// The program compiled under this key in this process, or nullptr.
std::shared_ptr<const JitKernels> findInMemory(const std::string &key);

/// Keeps a compiled program for later compiles of the same key in this process.
void keepInMemory(const std::string &key, std::shared_ptr<const JitKernels> kernels);

/// Forgets the programs kept in memory (tests use it to reach the disk cache).
void clearMemoryCache();

} // namespace kiln::cpu
