#pragma once
// `kiln data` (the corpus a run trains on, its splits as counts or TSV) and `kiln tokenizer`
// (train a SentencePiece model on a training split, encode and decode with it).

#include "runtime/data/corpus.h"
#include "runtime/data/tokenizer.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// --data, --valid and --reverse: the corpus flags `kiln data`, `kiln tokenizer train` and the
/// data path of `kiln train` share.
struct CorpusFlags {
  data::CorpusSpec spec;

  /// Registers the flags on a subcommand; `data_help` describes --data there. Without
  /// `pairs`, only --data (a joint tokenizer reads both sides of the training pairs alike).
  void add(CLI::App &app, const std::string &data_help = "", bool pairs = true);
};

/// `kiln data`: add() registers the subcommand, run() runs it once parsed.
struct DataCommand {
  CorpusFlags corpus;
  std::string split, output = "-";

  CLI::App *add(CLI::App &app);
  int run() const;
};

/// `kiln tokenizer train|encode|decode`.
struct TokenizerCommand {
  CorpusFlags corpus;
  int64_t vocab = data::TokenizerOptions{}.vocab;
  std::string output, tokenizer;
  bool pieces = false;
  CLI::App *train = nullptr, *encode = nullptr, *decode = nullptr;

  CLI::App *add(CLI::App &app);
  int run() const;
};

} // namespace kiln::tools
