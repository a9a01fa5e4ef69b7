#pragma once
// `kiln bench`: times the Transformer's training step, forward pass or decoding (greedy or beam
// search with the KV cache) on a backend and prints
// what a performance engineer asks first: ms per step (min and median), target tokens/s,
// achieved GFLOP/s against oneDNN's own GEMM rate on the same threads, peak memory, compile
// time cold and cached, and with --profile the time per kind of kernel. The last line is the
// same figures as JSON, for bench/compare.sh.

#include "tools/backend_flags.h"
#include "tools/model_options.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The flags of kiln bench.
struct BenchFlags {
  ModelFlags model;
  BackendFlags backend;
  std::string mode = "train";
  std::optional<int64_t> batch, src_len, tgt_len;
  int64_t width = 4;
  int64_t steps = 20, warmup = 3;
  double dropout = 0.1;
  std::string precision = "f32";
  bool profile = false;
  bool no_gemm = false;

  /// Registers the flags on the subcommand.
  void add(CLI::App &app);
};

/// Runs the benchmark and prints its figures.
int runBench(const BenchFlags &flags);

} // namespace kiln::tools
