#pragma once
// The verifier: the invariants every graph must keep between passes.

#include "ir/graph.h"

namespace kiln {

/// Checks operand counts, attributes, result types against inference, definition before use,
/// unique input and output names, and that an output named like a parameter or state input
/// (its next value) has that input's type. Throws the first violation as a located Error.
void verifyGraph(const Graph &g);

} // namespace kiln
