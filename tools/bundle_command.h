#pragma once
// `kiln bundle`: compiles a stage into a bundle (backend/gpu/program/bundle.h), a folder that
// kiln-run runs on Vulkan or CUDA without the compiler: its kernels as SPIR-V and PTX, the
// program as JSON, and the graph of its host steps if any. It can also write inputs for the
// stage and the outputs that the cpu backend computes from them, to check a device against.

#include "tools/model_options.h"

#include <CLI/CLI.hpp>

#include <string>

namespace kiln::tools {

/// `kiln bundle`: add() registers the subcommand, run() runs it once parsed.
struct BundleCommand {
  ModelFlags model;
  ShapeFlags shape;
  std::string stage = "forward", arch = "sm_90", output, precision = "f32";
  std::string graph_file, example_inputs, expected, expected_backend = "cpu";
  uint64_t seed = 1;

  CLI::App *add(CLI::App &app);
  int run() const;
};

} // namespace kiln::tools
