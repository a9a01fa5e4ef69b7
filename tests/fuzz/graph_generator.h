#pragma once
// Random small graphs for the differential fuzzer, decoded from fuzzer bytes: an op sample of
// the table (tests/conformance/samples.h) or fresh inputs, then a random composition of
// elementwise, reduction and matmul ops and the unfused spellings that the fusion passes look
// for: softmax, layer norm, attention and cross-entropy (with labels that may lie outside
// [0, V), such as -100 and V).

#include "ir/op.h"
#include "tests/fuzz/fuzz_support.h"

#include <map>
#include <optional>
#include <string>

namespace kiln::fuzz {

/// A generated graph: its text, and what its inputs' values must be drawn from.
struct GeneratedGraph {
  std::string text;
  /// The op sample the graph starts from, whose ranges and fixed values its inputs follow;
  /// empty for a graph of fresh inputs only.
  OpSample sample;
  /// Label inputs by name, with the values the bytes chose for them (some out of range).
  std::map<std::string, std::vector<double>> labels;
  /// Seed of the random values of every other input.
  uint64_t seed = 0;
  /// Whether the graph has a scalar "loss" output and parameters: the train pipeline applies.
  bool trainable = false;
};

/// Choices the bytes do not make.
struct GeneratorOptions {
  /// Draw labels in [0, V) only: to fuzz past a known finding about other labels.
  bool labels_in_range = false;
};

/// Decodes bytes into a graph that parses and verifies; every input decodes to one.
GeneratedGraph generateGraph(ByteReader &bytes, const GeneratorOptions &options = {});

} // namespace kiln::fuzz
