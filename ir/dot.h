#pragma once
// A Graphviz rendering of a graph: `dot -Tsvg` draws it.

#include "ir/graph.h"

#include <string>

namespace kiln {

struct DotOptions {
  /// How many levels of module scopes get a box of their own ("decoder", "layers.1",
  /// "self_attn" are three); deeper scopes are drawn in their ancestor's box. -1: every level.
  int depth = -1;
};

/// The graph in Graphviz's dot language: inputs as ellipses, nodes as boxes with their op, the
/// attributes that differ from their defaults and the result type, outputs as double octagons,
/// edges along the data flow labelled with the value's type, and one box (a cluster) per module
/// scope the nodes were built in, nested as the scopes are (parameters in their module's box).
std::string printDot(const Graph &g, const DotOptions &opts = {});

} // namespace kiln
