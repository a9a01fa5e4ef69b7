#pragma once
// The flags that choose a backend and how it compiles: --backend, --threads, --no-cache,
// --cpu-kernels.

#include "backend/backend.h"

#include <CLI/CLI.hpp>
#include <string>

namespace kiln::tools {

/// The memory plan a backend runs by, as text: groups that cannot run as one kernel are
/// planned node by node, as the CPU backend runs them.
std::string memoryPlanText(const Graph &graph);

/// --backend (from the backend list), --threads, --no-cache and --cpu-kernels.
struct BackendFlags {
  std::string backend;
  int threads = 0;
  bool no_cache = false;
  std::string cpu_kernels = "auto";

  /// Adds the flags to a command; `default_backend` is used when --backend is not given.
  void add(CLI::App &app, std::string default_backend);
  /// The chosen backend.
  const Backend &get() const { return getBackend(backend); }
  /// Compile options from the flags.
  CompileOptions options() const;
};

} // namespace kiln::tools
