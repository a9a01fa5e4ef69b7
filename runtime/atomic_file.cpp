#include "runtime/atomic_file.h"

#include "ir/diagnostics.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace kiln {

namespace {

std::string errnoMessage(int err) { return std::generic_category().message(err); }

[[noreturn]] void fail(const std::string &path, const std::string &message) {
  Location loc;
  loc.file = path;
  throw Error(loc, message);
}

/// Writes all of `bytes` to `fd`; returns 0 or the errno of the failure.
int writeAll(int fd, std::span<const std::byte> bytes) {
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    if (n == 0)
      return EIO;
    done += static_cast<uint64_t>(n);
  }
  return 0;
}

/// Writes into an existing file that is not a regular one (a device such as /dev/null, a FIFO,
/// a terminal): there is no file to replace, only a stream to write to.
void writeInPlace(const std::string &path, std::span<const std::byte> bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fail(path, fmt::format("cannot write '{}': {}", path, errnoMessage(err)));
  }
  int err = writeAll(fd, bytes);
  if (::close(fd) != 0 && err == 0)
    err = errno;
  if (err != 0)
    fail(path, fmt::format("cannot write '{}': {}", path, errnoMessage(err)));
}

} // namespace

void writeFileAtomically(const std::string &path, std::span<const std::byte> bytes) {
  static std::atomic<unsigned> counter{0};
  // What the path names, links followed: a regular file is replaced beside itself (so a link to
  // it stays a link, and the file keeps its permissions); anything else is written in place.
  struct stat existing {};
  bool exists = ::stat(path.c_str(), &existing) == 0;
  if (exists && !S_ISREG(existing.st_mode)) {
    writeInPlace(path, bytes);
    return;
  }
  std::string real = path;
  if (char *resolved = exists ? ::realpath(path.c_str(), nullptr) : nullptr) {
    real = resolved;
    std::free(resolved);
  }
  std::filesystem::path target(real);
  std::string temp =
      (target.parent_path() /
       fmt::format(".{}.tmp-{}-{}", target.filename().string(), ::getpid(), counter.fetch_add(1)))
          .string();
  int fd = -1;
  // Removes the temporary file and reports; the file at `path` is as it was.
  auto abandon = [&](const std::string &what, int err) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(temp.c_str());
    }
    std::error_code ec;
    bool kept = std::filesystem::exists(target, ec);
    fail(path, fmt::format("cannot write '{}': {}: {}; {}", path, what, errnoMessage(err),
                           kept ? "the file is left as it was" : "nothing was written"));
  };
  fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    abandon(fmt::format("cannot create the temporary file '{}'", temp), err);
  }
  if (exists && ::fchmod(fd, existing.st_mode & 07777) != 0) {
    int err = errno;
    abandon(fmt::format("keeping the permissions of '{}' failed", path), err);
  }
  if (int err = writeAll(fd, bytes); err != 0)
    abandon(fmt::format("writing '{}' failed", temp), err);
  // Flush before the rename, so that a crash cannot leave a renamed but empty file.
  if (::fsync(fd) != 0) {
    int err = errno;
    abandon(fmt::format("flushing '{}' failed", temp), err);
  }
  int closed = ::close(fd), err = errno;
  fd = -1;
  if (closed != 0) {
    ::unlink(temp.c_str());
    abandon(fmt::format("closing '{}' failed", temp), err);
  }
  if (::rename(temp.c_str(), real.c_str()) != 0) {
    err = errno;
    ::unlink(temp.c_str());
    abandon(fmt::format("renaming '{}' to it failed", temp), err);
  }
}

void writeFileAtomically(const std::string &path, std::string_view text) {
  writeFileAtomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

} // namespace kiln
