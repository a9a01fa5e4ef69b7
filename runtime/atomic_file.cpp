#include "runtime/atomic_file.h"

#include "ir/diagnostics.h"

#include <atomic>
#include <cerrno>
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

} // namespace

void writeFileAtomically(const std::string &path, std::span<const std::byte> bytes) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path target(path);
  std::string temp =
      (target.parent_path() /
       fmt::format(".{}.tmp-{}-{}", target.filename().string(), ::getpid(), counter.fetch_add(1)))
          .string();
  int fd = -1;
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
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      abandon(fmt::format("writing '{}' failed", temp), err);
    }
    if (n == 0)
      abandon(fmt::format("writing '{}' made no progress", temp), EIO);
    done += static_cast<uint64_t>(n);
  }
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
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(temp.c_str());
    abandon(fmt::format("renaming '{}' to it failed", temp), err);
  }
}

void writeFileAtomically(const std::string &path, std::string_view text) {
  writeFileAtomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

} // namespace kiln
