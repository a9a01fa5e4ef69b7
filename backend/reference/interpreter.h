#pragma once
// The reference interpreter: runs every op of a graph with its table kernel. Clear rather than
// fast; it is the oracle every backend, pass and gradient is checked against.

#include "ir/graph.h"
#include "ir/literal.h"

#include <span>
#include <vector>

namespace kiln::reference {

/// Options of a reference run.
struct Options {
  /// Computes a whole f32 graph in f64: f32 inputs are accepted and every f32 value, outputs
  /// included, is kept in f64 (for finite-difference gradient checks).
  bool promote_f64 = false;
};

/// Runs the graph on inputs given in the graph's input order; returns outputs in order.
/// Throws Error when an input's type does not match, or a kernel meets bad data (an index out
/// of range).
std::vector<Literal> run(const Graph &g, std::span<const Literal> inputs, const Options &opts = {});

} // namespace kiln::reference
