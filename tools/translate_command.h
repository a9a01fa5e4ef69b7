#pragma once
// `kiln translate`: translates lines with a checkpoint of `kiln train --data`, by beam search,
// greedy search or sampling.

#include "tools/backend_flags.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The flags of kiln translate; add() registers the subcommand, run() runs it once parsed.
struct TranslateCommand {
  std::string ckpt, input = "-";
  int64_t batch = 32, max_length = 128;
  int64_t beam = 4, nbest = 0, top_k = 0;
  bool greedy = false, sample = false;
  double length_penalty = 0.6, temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;
  BackendFlags backend;

  CLI::App *add(CLI::App &app);
  int run();
};

} // namespace kiln::tools
