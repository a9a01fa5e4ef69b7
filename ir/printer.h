#pragma once
// The text form of a graph. Example:
//
//   kiln.format 1
//   graph @main {
//     input data %x: f32[2,3]
//     input param %w: f32[3,4]
//     %0 = matmul(%x, %w) : f32[2,4] loc("model.cpp":12:5)
//     %1 = reduce_sum(%0) {axes = [1]} : f32[2]
//     output "y" = %1
//   }
//
// Values are numbered in order; a node with several results is "%3:2 = ..." and its results
// are used as %3#0 and %3#1. Attributes equal to their declared default are not printed.
// The first line names the version of the text form (ir/text_format.h).
//
// With PrintOptions::elide_constants_larger_than, a large constant prints its type and a hash
// of its bytes in place of its values, for reading only: the parser refuses such a text.
//
//   %0 = constant() {shape = [64, 32], value = elided<f32[64,32], fnv1a:0123456789abcdef>} : ...

#include "ir/graph.h"

#include <optional>
#include <string>
#include <unordered_map>

namespace kiln {

/// Options of the printer.
/// How much of a location the printer writes after an input or node.
enum class Locations {
  None, ///< no loc(...)
  User, ///< where the model's code called the node's module, and the module's scope
  Full, ///< also the line inside the module that built the node
};

/// The Locations a name gives: "none", "user" or "full".
std::optional<Locations> locationsNamed(std::string_view name);

struct PrintOptions {
  Locations locations = Locations::User; ///< loc(...) after inputs and nodes that carry one
  /// A constant with more values than this prints as elided<TYPE, fnv1a:HASH> (see
  /// elidedConstant); 0 prints every constant in full. A splat holds one value, never elided.
  int64_t elide_constants_larger_than = 0;
};

/// The name printGraph gives each value: inputs by name, node results by number (skipping
/// numbers that are input names), "%3#1" for the results of a multi-result node.
std::unordered_map<const Value *, std::string> valueNames(const Graph &g);

/// What an elided constant prints in place of its values: its type and the 64-bit FNV-1a hash
/// of its elements' bytes as the dtype stores them (little-endian, as in safetensors), so equal
/// constants show equal hashes: "elided<f32[2,3], fnv1a:0123456789abcdef>".
std::string elidedConstant(const TensorType &type, const FloatList &values);

/// Prints a graph in the text form that parseGraph reads back.
std::string printGraph(const Graph &g, const PrintOptions &opts = {});

} // namespace kiln
