#pragma once
// `kiln bleu`: corpus BLEU of a file of translations against a file of references, as
// sacreBLEU computes it by default. `kiln eval`: a checkpoint's BLEU on a split of its corpus.

#include "tools/data_command.h"
#include "tools/translate_command.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// add() registers the subcommand, run() runs it once parsed.
struct BleuCommand {
  std::string hyp, ref;
  bool tokens = false;

  CLI::App *add(CLI::App &app);
  int run() const;
};

/// add() registers the subcommand, run() runs it once parsed.
struct EvalCommand {
  SearchFlags search;
  CorpusFlags corpus;
  std::string split = "test", output;

  CLI::App *add(CLI::App &app);
  int run() const;
};

} // namespace kiln::tools
