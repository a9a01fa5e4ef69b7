// The exit statuses every kiln tool shares, from what escapes a tool's main.

#include "tools/tool_support.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

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

/// What kiln says of a command line of a small kiln-like app, or "" when it parses.
std::string parseMessage(std::vector<std::string> args) {
  CLI::App app{"a tool", "build/bin/kiln"};
  CLI::App *train = app.add_subcommand("train", "train");
  int64_t steps = 0;
  double lr = 0;
  uint64_t seed = 0;
  bool pre_norm = false;
  std::string stage = "forward";
  train->add_option("--steps", steps, "steps")->check(tools::positive());
  train->add_option("--lr", lr, "rate")->check(tools::positive());
  train->add_option("--seed", seed, "seed")->check(tools::unsignedInteger());
  train->add_flag("--pre-norm", pre_norm, "pre-norm");
  train->add_option("--stage", stage, "stage")->check(CLI::IsMember({"forward", "loss", "train"}));
  CLI::App *tokenizer = app.add_subcommand("tokenizer", "tokenizer");
  tokenizer->require_subcommand(1);
  tokenizer->add_subcommand("encode", "encode");
  tokenizer->add_subcommand("decode", "decode");
  std::vector<char *> argv{const_cast<char *>("build/bin/kiln")};
  for (std::string &a : args)
    argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError &e) {
    return tools::parseErrorMessage(app, e);
  }
  return "";
}

TEST_CASE("command-line errors name the flag and what it takes, not CLI11's wording") {
  CHECK(parseMessage({"train", "--steps", "abc"}) == "--steps takes an integer, found 'abc'");
  CHECK(parseMessage({"train", "--steps=1,2"}) == "--steps takes an integer, found '1,2'");
  CHECK(parseMessage({"train", "--lr", "fast"}) == "--lr takes a number, found 'fast'");
  CHECK(parseMessage({"train", "--seed", "x"}) ==
        "--seed takes an integer of 0 or more, found 'x'");
  CHECK(parseMessage({"train", "--pre-norm=maybe"}) ==
        "--pre-norm takes no value (or true or false), found 'maybe'");
  CHECK(parseMessage({"train", "--steps", "1", "--steps", "2"}) ==
        "--steps takes one value (an integer), found 2: give it once");
  CHECK(parseMessage({"train", "--steps"}) == "--steps needs a value: an integer");
  CHECK(parseMessage({"train", "--stage", "bogus"}) ==
        "--stage takes forward, loss or train, found 'bogus'");
  CHECK(parseMessage({"train", "--frob"}) == "kiln train has no flag '--frob'");
  CHECK(parseMessage({"train", "--steps", "1", "2"}) ==
        "kiln train takes no argument '2' (its values follow flags)");
  CHECK(parseMessage({"tokenizer"}) == "kiln tokenizer needs a command: encode, decode");
  // Range checks keep their own messages.
  CHECK(parseMessage({"train", "--lr", "-1"}) == "--lr: must be positive, found -1");
  CHECK(parseMessage({"train", "--steps", "3"}).empty());
}

} // namespace
} // namespace kiln
