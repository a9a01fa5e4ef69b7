#pragma once
// `kiln emit`: writes a stage's kernels out for inspection, one file per kernel in a target's
// language (PTX, NVPTX LLVM IR, SPIR-V or the kernel IR), and schedule.json: the kernels in launch
// order with the graph values their buffers bind and their launch configurations.

#include "ir/graph.h"
#include "tools/model_options.h"

#include <CLI/CLI.hpp>

#include <string>

namespace kiln::tools {

/// The PTX (sm_90), as one module, of a kernel for every node of a graph: of the graph that
/// the cpu backend runs with --cpu-kernels jit, in the order of printKernels.
std::string ptxText(const Graph &graph);

/// `kiln emit`: add() registers the subcommand, run() runs it once parsed.
struct EmitCommand {
  ModelFlags model;
  ShapeFlags shape;
  std::string target, stage = "forward", arch = "sm_90", output, precision = "f32";
  bool single_module = false;

  CLI::App *add(CLI::App &app);
  int run() const;
};

} // namespace kiln::tools
