#pragma once
// Pieces the command-line tools share: files, inputs for a graph, printing values.

#include "frontend/init.h"
#include "ir/graph.h"
#include "runtime/executable.h"
#include "runtime/host_buffer.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace kiln::tools {

/// Reads a whole file, or standard input for "-"; throws Error when it cannot.
std::string readTextFile(const std::string &path);
/// Writes text to a file atomically (temporary file, then rename), or to stdout for "-".
void writeTextFile(const std::string &path, const std::string &text);
/// The lines of a text file, or of stdin for "-"; an Error names a file that cannot be opened.
std::vector<std::string> readLines(const std::string &path);
/// Refuses, before any work, an output path that is a folder or whose folder does not exist.
void checkWritable(const std::string &path);

/// Inputs for every graph input, read by name from a safetensors file. Reports every missing
/// or mismatching tensor at once; extra tensors are an error too.
std::vector<HostBuffer> inputsFromSafetensors(const Graph &g, const std::string &path);
/// Seeded random inputs: floats uniform in [-1, 1), integers in [0, int_bound), bools 0 or 1,
/// the words of a seed-role key over every 32-bit value.
/// The initial weights of a model's parameters from a seed, by name, as host buffers.
Bindings initialParameters(const std::vector<ParamSpec> &params, uint64_t seed);

std::vector<HostBuffer> randomInputs(const Graph &g, uint64_t seed, int64_t int_bound = 2);
/// Writes named values to a safetensors file.
void writeBuffers(const std::string &path, const std::vector<std::string> &names,
                  const std::vector<HostBuffer> &values);

/// Prints a user error: "file:line:col: error: ..." when it has a location, else
/// "<tool>: error: ...".
void reportError(const Error &e, std::string_view tool);

/// The exit statuses of every kiln tool and subcommand.
enum ExitStatus : int {
  kExitSuccess = 0,
  kExitUserError = 1, ///< bad input, a value out of range, a failed run
  kExitUsage = 2,     ///< an unknown or missing flag, a value of the wrong form
  kExitInternal = 70, ///< a kiln bug (EX_SOFTWARE of sysexits.h)
};
/// The exit statuses as the last lines of --help.
extern const char *const kExitStatusHelp;

/// Runs a tool's main and turns what escapes it into an exit status: a UsageError prints one
/// line and the --help hint (2), an Error its message (1), anything else an internal error
/// (70). A failed assertion exits with 70 as well.
int runTool(std::string_view tool, int (*main)(int, char **), int argc, char **argv);
/// The exit status for a CLI11 parse failure, after printing it as "<tool>: error: ..." with the
/// --help hint: 0 for --help, 1 for a value a check refused, 2 for the rest.
int reportParseError(const CLI::App &app, const CLI::ParseError &e, std::string_view tool);
/// A CLI11 parse failure of `app`'s command line in kiln's words: the flag and what it takes
/// ("--steps takes an integer, found 'abc'"), where CLI11 says "Could not convert: ...".
std::string parseErrorMessage(const CLI::App &app, const CLI::ParseError &e);
/// Finishes a command line before parsing: puts the exit statuses at the end of the --help of
/// `app` and of each subcommand, and asserts that every numeric flag has a check of its values.
void finishCommandLine(CLI::App &app);
/// A picture of a graph from its dot text (ir/dot.h): the text itself for "dot", and for "svg"
/// or "png" what Graphviz's dot renders of it; an Error when dot is not installed or fails.
std::string renderDot(const std::string &dot, const std::string &format);

/// Refuses a command line without a first argument, or whose first argument is neither a flag
/// nor one of `app`'s subcommands, with a UsageError that lists them (CLI11 would only say that
/// a subcommand is required).
void checkSubcommandName(const CLI::App &app, int argc, char **argv);

// Checks of a numeric flag's value. Each refuses NaN and infinities; text that is not a number
// passes them, so that the conversion refuses it as a usage error.

/// A number above 0 ("must be positive, found 0").
CLI::Validator positive();
/// A number of at least 0.
CLI::Validator nonNegative();
/// A number in (0, 1].
CLI::Validator fraction();
/// A number in [0, 1): a rate such as dropout.
CLI::Validator rate();
/// A number in [lo, hi].
CLI::Validator between(double lo, double hi);
/// An integer in [0, 2^64): a seed, never a negative number read as unsigned.
CLI::Validator unsignedInteger();

} // namespace kiln::tools
