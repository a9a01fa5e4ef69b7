#pragma once
// `kiln translate`: translates lines with a checkpoint of `kiln train --data` by greedy search.

#include "tools/backend_flags.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The flags of kiln translate; add() registers the subcommand, run() runs it once parsed.
struct TranslateCommand {
  std::string ckpt, input = "-";
  int64_t batch = 32, max_length = 128;
  BackendFlags backend;

  CLI::App *add(CLI::App &app);
  int run();
};

} // namespace kiln::tools
