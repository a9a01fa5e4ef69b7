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

/// Prints a value as nested lists: [[1, 2], [3, 4]]; f32 values in their shortest exact form.
std::string bufferStr(const HostBuffer &value);

/// A flag's check that its value is a number above 0 ("must be positive, found 0").
CLI::Validator positive();
/// A flag's check that its value is a number of at least 0.
CLI::Validator nonNegative();
/// A flag's check that its value lies in (0, 1].
CLI::Validator fraction();

} // namespace kiln::tools
