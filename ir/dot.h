#pragma once
// A Graphviz rendering of a graph: `dot -Tsvg` draws it.

#include "ir/graph.h"

#include <string>

namespace kiln {

/// The graph in Graphviz's dot language: inputs as ellipses, nodes as boxes with their op and
/// result type, outputs as double octagons, edges along the data flow.
std::string printDot(const Graph &g);

} // namespace kiln
