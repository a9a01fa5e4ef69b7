#pragma once
// `kiln translate`: translates lines with a checkpoint of `kiln train --data`, by beam search,
// greedy search or sampling.

#include "tools/backend_flags.h"
#include "tools/translator.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The checkpoint and the search of kiln translate and kiln eval.
struct SearchFlags {
  std::string ckpt;
  SearchOptions options;
  BackendFlags backend;

  /// Registers the flags on a subcommand; `nbest` adds --nbest.
  void add(CLI::App &cmd, bool with_nbest);
};

/// The translations of each line with the checkpoint, best first: one, or --nbest of them.
std::vector<std::vector<Translation>> translateLines(const SearchFlags &flags,
                                                     const std::vector<std::string> &lines);

/// kiln translate; add() registers the subcommand, run() runs it once parsed.
struct TranslateCommand {
  SearchFlags search;
  std::string input = "-";

  CLI::App *add(CLI::App &app);
  int run() const;
};

} // namespace kiln::tools
