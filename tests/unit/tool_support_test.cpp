// The exit statuses every kiln tool shares, from what escapes a tool's main.

#include "tools/tool_support.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace kiln {
namespace {

int succeeds(int, char **) { return 0; }
int failsWithError(int, char **) { throw Error({}, "bad input"); }
int failsWithUsage(int, char **) { throw UsageError({}, "unknown flag"); }
int failsWithBug(int, char **) { throw std::logic_error("a broken invariant"); }
int failsAnAssertion(int, char **) {
  KILN_ASSERT(false, "a broken invariant");
  return 0;
}

/// The exit status of a tool's main run in a child process, as a shell would see it.
int statusInChild(int (*main)(int, char **)) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0)
    _exit(tools::runTool("test-tool", main, 0, nullptr));
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

TEST_CASE("tools exit 0, 1 for a user error, 2 for a usage error, 70 for a kiln bug") {
  CHECK(statusInChild(succeeds) == 0);
  CHECK(statusInChild(failsWithError) == 1);
  CHECK(statusInChild(failsWithUsage) == 2);
  CHECK(statusInChild(failsWithBug) == 70);
  CHECK(statusInChild(failsAnAssertion) == 70);
}

TEST_CASE("numeric flag checks refuse NaN, infinities and values outside their range") {
  auto refuses = [](CLI::Validator check, std::string value) { return !check(value).empty(); };
  for (std::string v : {"nan", "inf", "-inf", "1e999", "0", "-1"})
    CHECK(refuses(tools::positive(), v));
  CHECK_FALSE(refuses(tools::positive(), "0.5"));
  CHECK(refuses(tools::nonNegative(), "-0.1"));
  CHECK_FALSE(refuses(tools::nonNegative(), "0"));
  CHECK(refuses(tools::rate(), "1"));
  CHECK_FALSE(refuses(tools::rate(), "0"));
  CHECK(refuses(tools::between(1, 4), "4.5"));
  CHECK(refuses(tools::positive(), "99999999999999999999999")); // clamped by an int64 flag
  CHECK(refuses(tools::unsignedInteger(), "-1"));
  CHECK(refuses(tools::unsignedInteger(), "18446744073709551616")); // 2^64
  CHECK_FALSE(refuses(tools::unsignedInteger(), "18446744073709551615"));
  // Text that is not a number is left to the conversion, which reports a usage error.
  CHECK_FALSE(refuses(tools::positive(), "ten"));
}

} // namespace
} // namespace kiln
