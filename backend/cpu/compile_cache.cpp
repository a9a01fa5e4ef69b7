// An entry on disk is one file named after its key:
//
//   "KILNOBJ1" | key (64 hex digits) | payload size (u64 LE) | xxh3-64 of payload (u64 LE)
//   | payload (the object file)
//
// The key inside the file guards against a file copied or renamed over another; the length
// against truncation; the checksum against flipped bytes. The JIT's own loading is the last
// check (jit.cpp).

#include "backend/cpu/compile_cache.h"

#include "ir/diagnostics.h"
#include "runtime/atomic_file.h"
#include "runtime/cache_directory.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/xxhash.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

namespace kiln::cpu {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'O', 'B', 'J', '1'};
constexpr size_t kKeySize = 64;
constexpr size_t kHeaderSize = sizeof(kMagic) + kKeySize + 2 * sizeof(uint64_t);

uint64_t checksum(std::span<const char> bytes) {
  return llvm::xxh3_64bits(
      llvm::ArrayRef(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
}

void putU64(std::vector<char> &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t getU64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

struct MemoryCache {
  std::mutex mutex;
  /// Weak: a program's machine code lives as long as an executable uses it, not forever.
  std::map<std::string, std::weak_ptr<const JitKernels>> programs;
};

MemoryCache &memoryCache() {
  static MemoryCache cache;
  return cache;
}

} // namespace

std::string cacheKey(std::string_view identity) {
  llvm::SHA256 sha;
  sha.update(llvm::StringRef(identity.data(), identity.size()));
  std::array<uint8_t, 32> digest = sha.final();
  static constexpr char hex[] = "0123456789abcdef";
  std::string key;
  for (uint8_t b : digest) {
    key += hex[b >> 4];
    key += hex[b & 15];
  }
  return key;
}

std::string cachePath(const std::string &key) {
  std::string dir = cacheDirectory();
  if (dir.empty())
    return {};
  return (std::filesystem::path(dir) / (key + ".kobj")).string();
}

std::optional<std::vector<char>> readCachedObject(const std::string &key) {
  std::string path = cachePath(key);
  if (path.empty() || key.size() != kKeySize)
    return std::nullopt;
  // Only a regular file can be an entry (a directory of that name is a miss, not a crash).
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || file.size() < kHeaderSize)
    return std::nullopt;
  const char *p = file.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0)
    return std::nullopt;
  p += sizeof(kMagic);
  if (std::string_view(p, kKeySize) != key)
    return std::nullopt;
  p += kKeySize;
  uint64_t size = getU64(p), sum = getU64(p + 8);
  if (size != file.size() - kHeaderSize)
    return std::nullopt;
  std::vector<char> object(file.begin() + kHeaderSize, file.end());
  if (checksum(object) != sum)
    return std::nullopt;
  return object;
}

bool writeCachedObject(const std::string &key, std::span<const char> object) {
  std::string path = cachePath(key);
  if (path.empty() || key.size() != kKeySize)
    return false;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    return false;
  std::vector<char> file(kMagic, kMagic + sizeof(kMagic));
  file.insert(file.end(), key.begin(), key.end());
  putU64(file, object.size());
  putU64(file, checksum(object));
  file.insert(file.end(), object.begin(), object.end());
  try {
    writeFileAtomically(path, std::as_bytes(std::span(file)));
  } catch (const Error &) {
    return false; // a read-only or full disk costs a recompile next time, nothing more
  }
  return true;
}

std::shared_ptr<const JitKernels> findInMemory(const std::string &key) {
  MemoryCache &cache = memoryCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.programs.find(key);
  return it == cache.programs.end() ? nullptr : it->second.lock();
}

void keepInMemory(const std::string &key, std::shared_ptr<const JitKernels> kernels) {
  MemoryCache &cache = memoryCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  std::erase_if(cache.programs, [](const auto &entry) { return entry.second.expired(); });
  cache.programs[key] = std::move(kernels);
}

void clearMemoryCache() {
  MemoryCache &cache = memoryCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.programs.clear();
}

} // namespace kiln::cpu
