#pragma once
// Reverse-mode automatic differentiation as a graph transformation: the backward pass is
// appended to the graph as ordinary nodes, built from each op's VJP rule, so it can be
// printed, read and optimised like the forward pass.

#include "ir/graph.h"
#include "passes/pass.h"

#include <string>
#include <vector>

namespace kiln {

/// What to differentiate.
struct AutodiffOptions {
  /// The scalar output to differentiate: empty picks "loss", or else the only scalar output.
  std::string of;
  /// Inputs to differentiate with respect to; empty means every floating-point parameter.
  std::vector<std::string> wrt;
};

/// Appends the gradient of the chosen output with respect to each chosen input, as outputs
/// named "grad.<input>", in the order of `wrt` (or of the parameters). An input the output does
/// not depend on gets zeros. Nodes the gradients need are added; nothing else is. Returns the
/// names of the new outputs. Throws Error for a non-scalar output, a non-float input, or an op
/// without a VJP on the way.
std::vector<std::string> differentiate(Graph &g, const AutodiffOptions &opts);

/// The autodiff pass with typed options (the pass list's factory parses them from flags).
std::unique_ptr<Pass> createAutodiffPass(AutodiffOptions opts);

} // namespace kiln
