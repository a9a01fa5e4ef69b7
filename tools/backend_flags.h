#pragma once
// The flags that choose a backend and how it compiles: --backend, --threads, --no-cache,
// --cpu-kernels; the kernels and memory plan of a graph as text.

#include "backend/backend.h"

#include <CLI/CLI.hpp>
#include <string>

namespace kiln::tools {

/// The memory plan the CPU backend runs by under a --cpu-kernels mode, as text: of the graph it
/// runs (attention written out where it is, groups that cannot run as one kernel node by node).
std::string memoryPlanText(const Graph &graph, CpuKernels mode);

/// The kernels the CPU backend runs under a --cpu-kernels mode, as text: of the graph it runs,
/// with a line for each node a oneDNN primitive computes instead.
std::string kernelsText(const Graph &graph, CpuKernels mode);

/// The SPIR-V assembly of every kernel of the graph as the CPU backend prepares it with JIT
/// loops everywhere (a GPU has no oneDNN), each validated, and a line for each node that has no
/// kernel.
std::string spirvText(const Graph &graph);

/// --backend (from the backend list), --threads, --no-cache and --cpu-kernels.
struct BackendFlags {
  std::string backend;
  int threads = 0;
  bool no_cache = false;
  std::string cpu_kernels = "auto";
  /// The data-parallel group all_reduce sums over (set by kiln train --data-parallel).
  Communicator *communicator = nullptr;
  /// Whether an all_reduce runs while the next steps do (off: kiln train --no-overlap).
  bool overlap_all_reduce = true;

  /// Adds the flags to a command; `default_backend` is used when --backend is not given.
  void add(CLI::App &app, std::string default_backend);
  /// The chosen backend; throws its one-line Error when this machine cannot run it (no GPU
  /// driver).
  const Backend &get() const;
  /// Compile options from the flags.
  CompileOptions options() const;
};

} // namespace kiln::tools
