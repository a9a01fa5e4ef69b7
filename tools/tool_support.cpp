#include "tools/tool_support.h"

#include "runtime/atomic_file.h"
#include "runtime/safetensors.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <random>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace kiln::tools {
namespace {

/// Why the last open failed, as the OS says it ("No such file or directory").
std::string openFailure() {
  int err = errno;
  return err ? std::generic_category().message(err) : "it cannot be opened";
}

} // namespace

std::string readTextFile(const std::string &path) {
  if (path == "-")
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(Location{path}, "cannot open file for reading: " + openFailure());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeTextFile(const std::string &path, const std::string &text) {
  if (path == "-") {
    std::cout << text;
    return;
  }
  writeFileAtomically(path, std::string_view(text));
}

std::vector<std::string> readLines(const std::string &path) {
  std::ifstream file;
  if (path != "-") {
    errno = 0;
    file.open(path);
    if (!file)
      throw Error({path}, "cannot open the input: " + openFailure());
  }
  std::istream &in = path == "-" ? std::cin : file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

void checkWritable(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw Error({path}, "cannot write the output: it is a folder");
  fs::path folder = fs::path(path).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw Error({path},
                fmt::format("cannot write the output: {} is not a folder", folder.string()));
}

std::vector<HostBuffer> inputsFromSafetensors(const Graph &g, const std::string &path) {
  TensorMap tensors = readSafetensors(path);
  std::vector<HostBuffer> inputs;
  std::vector<std::string> problems;
  for (const auto &in : g.inputs()) {
    auto it = tensors.find(in.name);
    if (it == tensors.end()) {
      problems.push_back(fmt::format("missing tensor '{}' ({})", in.name, in.value->type.str()));
      continue;
    }
    TensorType have{it->second.dtype, it->second.shape};
    if (have != in.value->type) {
      problems.push_back(fmt::format("tensor '{}' is {}, the graph expects {}", in.name, have.str(),
                                     in.value->type.str()));
      continue;
    }
    inputs.emplace_back(have, it->second.bytes);
  }
  for (const auto &[name, t] : tensors)
    if (!g.findInput(name))
      problems.push_back(fmt::format("tensor '{}' is not an input of the graph", name));
  if (!problems.empty()) {
    std::string msg = fmt::format("{} problem{} with the inputs:", problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (const auto &p : problems)
      msg += "\n  " + p;
    throw Error(Location{path}, msg);
  }
  return inputs;
}

Bindings initialParameters(const std::vector<ParamSpec> &params, uint64_t seed) {
  std::vector<Literal> values = initialValues(params, seed);
  Bindings tensors;
  for (size_t i = 0; i < params.size(); ++i)
    tensors.emplace(params[i].name, HostBuffer(values[i].type, values[i].toBytes()));
  return tensors;
}

std::vector<HostBuffer> randomInputs(const Graph &g, uint64_t seed, int64_t int_bound) {
  std::mt19937_64 rng(seed);
  std::vector<HostBuffer> inputs;
  for (const auto &in : g.inputs()) {
    HostBuffer buf(in.value->type);
    DType dt = buf.dtype();
    for (int64_t i = 0; i < buf.numElements(); ++i) {
      if (isFloat(dt))
        buf.setDouble(i, std::uniform_real_distribution<double>(-1.0, 1.0)(rng));
      else if (dt == DType::boolean)
        buf.setInt(i, static_cast<int64_t>(rng() & 1));
      else if (in.role == InputRole::Seed) // a key's words take every 32-bit value
        buf.setInt(i, static_cast<int32_t>(static_cast<uint32_t>(rng())));
      else
        buf.setInt(i, std::uniform_int_distribution<int64_t>(0, int_bound - 1)(rng));
    }
    inputs.push_back(std::move(buf));
  }
  return inputs;
}

void writeBuffers(const std::string &path, const std::vector<std::string> &names,
                  const std::vector<HostBuffer> &values) {
  TensorMap tensors;
  for (size_t i = 0; i < names.size(); ++i)
    tensors[names[i]] = TensorData{
        values[i].dtype(), values[i].shape(), {values[i].bytes().begin(), values[i].bytes().end()}};
  writeSafetensors(path, tensors);
}

void reportError(const Error &e, std::string_view tool) {
  if (e.location().known())
    std::cerr << e.what() << "\n";
  else
    std::cerr << tool << ": error: " << e.message() << "\n";
}

namespace {

/// The message for a number CLI11 would not read as decimal, or "": it reads 0x10 as 16 and an
/// integer with a leading zero, 010, as octal 8.
std::string decimalForm(const std::string &text) {
  size_t sign = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
  std::string_view digits = std::string_view(text).substr(sign);
  bool hex = digits.size() > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
  bool octal = digits.size() > 1 && digits[0] == '0' &&
               digits.find_first_not_of("0123456789") == std::string_view::npos;
  if (hex || octal)
    return fmt::format("must be a decimal number{}, found {}",
                       octal ? " without leading zeros" : "", text);
  return {};
}

/// A validator of numbers: `ok` says whether a finite value passes; the message names the rule.
/// Text that is not a number passes, so that CLI11's conversion refuses it (a usage error).
CLI::Validator numberCheck(std::string rule, std::function<bool(double)> ok) {
  return CLI::Validator(
      [rule, ok](std::string &text) -> std::string {
        if (std::string error = decimalForm(text); !error.empty())
          return error;
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::out_of_range &) {
          return fmt::format("must be {}, found {}", rule, text);
        } catch (const std::exception &) {
          return {};
        }
        if (used != text.size())
          return {};
        // An integer too large for int64 would be clamped by the conversion to an integer flag.
        int64_t whole = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), whole);
        if (ec == std::errc::result_out_of_range && end == text.data() + text.size())
          return fmt::format("{} is out of range", text);
        if (!std::isfinite(v) || !ok(v))
          return fmt::format("must be {}, found {}", rule, text);
        return {};
      },
      rule);
}

} // namespace

CLI::Validator positive() {
  return numberCheck("positive", [](double v) { return v > 0; });
}

CLI::Validator nonNegative() {
  return numberCheck("0 or more", [](double v) { return v >= 0; });
}

CLI::Validator fraction() {
  return numberCheck("in (0, 1]", [](double v) { return v > 0 && v <= 1; });
}

CLI::Validator rate() {
  return numberCheck("in [0, 1)", [](double v) { return v >= 0 && v < 1; });
}

CLI::Validator between(double lo, double hi) {
  return numberCheck(fmt::format("in [{}, {}]", lo, hi),
                     [lo, hi](double v) { return v >= lo && v <= hi; });
}

CLI::Validator unsignedInteger() {
  std::string rule = "an integer in [0, 2^64)";
  return CLI::Validator(
      [rule](std::string &text) -> std::string {
        if (std::string error = decimalForm(text); !error.empty())
          return error;
        // Text that is not an integer is left to the conversion (a usage error).
        size_t digits = text.find_first_not_of("0123456789", text.rfind('-', 0) == 0 ? 1 : 0);
        if (text.empty() || text == "-" || digits != std::string::npos)
          return {};
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc() && end == text.data() + text.size())
          return {};
        return fmt::format("must be {}, found {}", rule, text);
      },
      "0 or more");
}

const char *const kExitStatusHelp =
    "Exit status: 0 success; 1 an error in the input or in a value given (a bad file, a value "
    "out of range, a failed run); 2 a usage error (an unknown or missing flag, a value of the "
    "wrong form); 70 an internal error (a bug in kiln); 130 or 143 a run that SIGINT or SIGTERM "
    "stopped after it saved its work.";

namespace {

const char *const kUsageHint = "Run with --help for more information.";

void exitOnAbort(int) {
  // Only async-signal-safe calls here: the assertion's message is already on stderr.
  static const char note[] = "(an internal error: a bug in kiln)\n";
  ssize_t ignored = write(STDERR_FILENO, note, sizeof note - 1);
  (void)ignored;
  _exit(kExitInternal);
}

} // namespace

int runTool(std::string_view tool, int (*main)(int, char **), int argc, char **argv) {
  std::signal(SIGABRT, exitOnAbort);
  // Past a file-size limit, a write fails (EFBIG) and the atomic writer keeps the old file,
  // instead of the process ending with a partial temporary file left behind.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    int status = main(argc, argv);
    // Output that did not reach its file (a full disk, a closed pipe, a file-size limit) is a
    // failed run, not a success.
    if (!std::cout.flush()) {
      std::cerr << tool << ": error: cannot write the standard output\n";
      return kExitUserError;
    }
    return status;
  } catch (const UsageError &e) {
    std::cerr << fmt::format("{}: error: {}\n{}\n", tool, e.message(), kUsageHint);
    return kExitUsage;
  } catch (const Error &e) {
    reportError(e, tool);
    return kExitUserError;
  } catch (const std::bad_alloc &) {
    std::cerr << tool << ": error: out of memory (are the shapes much larger than intended?)\n";
    return kExitUserError;
  } catch (const std::exception &e) {
    std::cerr << tool << ": internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

namespace {

/// The subcommand the command line reached (the deepest one parsed), or `app` itself.
const CLI::App &reachedCommand(const CLI::App &app) {
  for (const CLI::App *sub : app.get_subcommands([](const CLI::App *s) { return s->parsed(); }))
    return reachedCommand(*sub);
  return app;
}

/// The option of `command` or of a command above it that answers to `name`, or null.
const CLI::Option *findOption(const CLI::App &command, const std::string &name) {
  for (const CLI::App *c = &command; c; c = c->get_parent())
    if (const CLI::Option *opt = c->get_option_no_throw(name))
      return opt;
  return nullptr;
}

/// What a flag's values are, in words: "an integer" for CLI11's INT, and so on.
std::string valueKind(const CLI::Option *opt) {
  if (!opt)
    return "a value";
  std::string type = opt->get_type_name();
  type = type.substr(0, type.find(':'));
  if (type == "INT")
    return "an integer";
  if (type == "UINT")
    return "an integer of 0 or more";
  if (type == "FLOAT")
    return "a number";
  if (opt->get_expected_max() == 0)
    return "no value (or true or false)";
  return "a value";
}

/// "a, b or c" from CLI11's set "{a,b,c}" text.
std::string choiceList(const std::string &set) {
  std::vector<std::string> items;
  std::stringstream in(set);
  for (std::string item; std::getline(in, item, ',');)
    items.push_back(item);
  if (items.size() < 2)
    return set;
  std::string last = items.back();
  items.pop_back();
  return fmt::format("{} or {}", fmt::join(items, ", "), last);
}

/// A command's name; the tool's is the last part of the path it was run by.
std::string commandName(const CLI::App &command) {
  if (command.get_parent())
    return command.get_name();
  return std::filesystem::path(command.get_name()).filename().string();
}

/// `command`'s path from the tool: "kiln tokenizer".
std::string commandPath(const CLI::App &command) {
  std::string path = commandName(command);
  for (const CLI::App *c = command.get_parent(); c; c = c->get_parent())
    path = commandName(*c) + " " + path;
  return path;
}

} // namespace

std::string parseErrorMessage(const CLI::App &app, const CLI::ParseError &e) {
  const CLI::App &command = reachedCommand(app);
  std::string what = e.what();
  std::smatch m;
  if (std::regex_match(what, m, std::regex("Could not convert: (\\S+) = (.*)"))) {
    std::string flag = m[1];
    return fmt::format("{} takes {}, found '{}'", flag, valueKind(findOption(command, flag)),
                       m[2].str());
  }
  if (std::regex_match(what, m, std::regex("(\\S+): At Most 1 required but received (\\d+)"))) {
    std::string flag = m[1];
    return fmt::format("{} takes one value ({}), found {}: give it once", flag,
                       valueKind(findOption(command, flag)), m[2].str());
  }
  if (std::regex_match(what, m, std::regex("(\\S+): \\d+ required .* missing"))) {
    std::string flag = m[1];
    return fmt::format("{} needs a value: {}", flag, valueKind(findOption(command, flag)));
  }
  if (std::regex_match(what, m, std::regex("(\\S+): (.*) not in \\{(.*)\\}")))
    return fmt::format("{} takes {}, found '{}'", m[1].str(), choiceList(m[3]), m[2].str());
  if (std::regex_match(what, m,
                       std::regex("The following arguments? (?:was|were) not expected: (.*)"))) {
    std::vector<std::string> flags, others;
    std::stringstream in(m[1].str());
    for (std::string arg; in >> arg;)
      (arg.starts_with("-") ? flags : others).push_back("'" + arg + "'");
    std::string path = commandPath(command);
    if (!flags.empty())
      return fmt::format("{} has no flag {}", path, fmt::join(flags, ", "));
    return fmt::format("{} takes no argument {} (its values follow flags)", path,
                       fmt::join(others, ", "));
  }
  if (what == "A subcommand is required") {
    std::vector<std::string> names;
    for (const CLI::App *sub : command.get_subcommands([](const CLI::App *) { return true; }))
      names.push_back(sub->get_name());
    return fmt::format("{} needs a command: {}", commandPath(command), fmt::join(names, ", "));
  }
  return what;
}

int reportParseError(const CLI::App &app, const CLI::ParseError &e, std::string_view tool) {
  if (e.get_exit_code() == 0) // --help
    return app.exit(e);
  // A value out of its range is a user error, one line; a command line that does not parse is
  // a usage error, with the hint.
  bool bad_value = dynamic_cast<const CLI::ValidationError *>(&e) != nullptr;
  std::cerr << fmt::format("{}: error: {}\n{}", tool, parseErrorMessage(app, e),
                           bad_value ? "" : std::string(kUsageHint) + "\n");
  return bad_value ? kExitUserError : kExitUsage;
}

void finishCommandLine(CLI::App &app) {
  app.footer(kExitStatusHelp);
  for (const CLI::Option *opt : app.get_options()) {
    std::string type = opt->get_type_name();
    if (type == "INT" || type == "UINT" || type == "FLOAT") {
      std::string flag = fmt::format("{} {}: a numeric flag needs a check of its values",
                                     app.get_name(), opt->get_name());
      KILN_ASSERT(false, flag.c_str());
    }
  }
  for (CLI::App *sub : app.get_subcommands([](const CLI::App *) { return true; }))
    finishCommandLine(*sub);
}

std::string renderDot(const std::string &dot, const std::string &format) {
  if (format == "dot")
    return dot;
  KILN_ASSERT(format == "svg" || format == "png", "a picture is dot, svg or png");
  // Graphviz reads the graph from a file of its own, so that its output alone comes back.
  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               fmt::format("kiln-graph-{}.dot", static_cast<long>(getpid()));
  std::ofstream(file, std::ios::binary) << dot;
  std::string command = fmt::format("dot -T{} '{}' 2>&1", format, file.string());
  std::string picture;
  FILE *pipe = popen(command.c_str(), "r");
  int status = -1;
  if (pipe) {
    char buffer[65536];
    for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
      picture.append(buffer, n);
    status = pclose(pipe);
  }
  std::filesystem::remove(file);
  if (status != 0)
    throw Error({}, fmt::format("--format {} runs Graphviz's dot, which {}; --format dot writes "
                                "the text for it",
                                format,
                                WIFEXITED(status) && WEXITSTATUS(status) == 127
                                    ? "is not installed (Debian: apt-get install graphviz)"
                                    : "failed: " + picture.substr(0, 200)));
  return picture;
}

void checkSubcommandName(const CLI::App &app, int argc, char **argv) {
  if (argc >= 2 && argv[1][0] == '-')
    return;
  std::vector<std::string> names;
  for (const CLI::App *sub : app.get_subcommands([](const CLI::App *) { return true; })) {
    if (argc >= 2 && sub->check_name(argv[1]))
      return;
    names.push_back(sub->get_name());
  }
  if (argc < 2)
    throw UsageError({}, fmt::format("a command is required: {}", fmt::join(names, ", ")));
  throw UsageError({}, fmt::format("unknown command '{}': the commands are {}", argv[1],
                                   fmt::join(names, ", ")));
}

} // namespace kiln::tools
