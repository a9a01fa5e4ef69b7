#pragma once
// `kiln translate`: translates lines with a checkpoint of `kiln train --data`, by beam search,
// greedy search or sampling.

#include "tools/backend_flags.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The checkpoint and the search of kiln translate and kiln eval.
struct SearchFlags {
  std::string ckpt;
  int64_t batch = 32, max_length = 128;
  int64_t beam = 4, nbest = 0, top_k = 0;
  bool greedy = false, sample = false;
  double length_penalty = 0.6, temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;
  BackendFlags backend;

  /// Registers the flags on a subcommand; `nbest` adds --nbest.
  void add(CLI::App &cmd, bool with_nbest);
};

/// A translation and its score (beam search's ranking value; 0 for greedy and sampling).
struct Translation {
  double score = 0;
  std::string text;
};

/// The translations of each line, best first: one, or --nbest of them.
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
