#include "tools/data_command.h"

#include "runtime/data/tokenizer.h"
#include "runtime/data/tsv.h"
#include "tools/tool_support.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <sstream>

namespace kiln::tools {
namespace {

int64_t wordsOf(const std::vector<data::SentencePair> &pairs, bool source) {
  int64_t n = 0;
  for (const data::SentencePair &p : pairs)
    n += data::wordCount(source ? p.source : p.target);
  return n;
}

/// The ids of one line of `kiln tokenizer decode`'s input.
std::vector<int64_t> idsOf(const std::string &line, int number) {
  std::istringstream in(line);
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    int64_t id = 0;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception &) {
      used = 0;
    }
    if (used != word.size())
      throw Error({"<stdin>", number}, fmt::format("'{}' is not a token id", word));
    ids.push_back(id);
  }
  return ids;
}

} // namespace

void CorpusFlags::add(CLI::App &app, const std::string &data_help, bool pairs) {
  auto *data = app.add_option("--data", spec.data,
                              data_help.empty()
                                  ? "ding-en-de (Ding's example sentences, split by the MD5 of "
                                    "the English) or a TSV file of source<TAB>target training "
                                    "pairs"
                                  : data_help);
  if (!spec.data.empty())
    data->capture_default_str();
  if (!pairs)
    return;
  app.add_option("--valid", spec.valid, "with a TSV --data: a TSV file of validation pairs");
  app.add_flag("--reverse", spec.split.reverse,
               "ding-en-de: German to English instead of English to German; a TSV: swap the "
               "columns");
}

CLI::App *DataCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "data", "the corpus a run trains on: its splits' sizes, or one split as TSV");
  corpus.add(*cmd);
  cmd->add_option("--split", split, "write this split as source<TAB>target lines")
      ->check(CLI::IsMember({"train", "valid", "test"}));
  cmd->add_option("-o,--output", output, "with --split: output file (default: stdout)");
  return cmd;
}

int DataCommand::run() const {
  bool ding = corpus.spec.data == data::kDingCorpus;
  if (!ding && split == "test")
    throw Error({corpus.spec.data}, "a TSV corpus has no test split: --split train, or valid "
                                    "with --valid");
  if (!ding && split == "valid" && corpus.spec.valid.empty())
    throw Error({}, "--split valid of a TSV corpus needs --valid FILE.tsv");
  if (split.empty() && output != "-")
    throw Error({output}, "-o writes a split: add --split train, valid or test");
  data::Corpus c = data::loadCorpus(corpus.spec);
  if (!split.empty()) {
    const auto &pairs = split == "train" ? c.train : split == "valid" ? c.valid : c.test;
    writeTextFile(output, data::tsvText(pairs));
    return 0;
  }
  std::cout << fmt::format(
      "{}{}\n", corpus.spec.data,
      ding ? corpus.spec.split.reverse ? " (German to English)" : " (English to German)" : "");
  auto row = [](std::string_view name, const std::vector<data::SentencePair> &pairs) {
    std::cout << fmt::format("  {:<6}{:>7} pairs, {:>8} source words, {:>8} target words\n", name,
                             pairs.size(), wordsOf(pairs, true), wordsOf(pairs, false));
  };
  row("train", c.train);
  row("valid", c.valid);
  if (ding)
    row("test", c.test);
  if (ding)
    std::cout << fmt::format("  training pairs have at most {} English words\n",
                             corpus.spec.split.max_train_words);
  return 0;
}

CLI::App *TokenizerCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "tokenizer", "train a SentencePiece tokenizer on a training split; encode and decode");
  cmd->require_subcommand(1);
  train = cmd->add_subcommand(
      "train", "train a joint unigram model on the training split's source and target text");
  corpus.add(*train, "", false);
  train->add_option("--vocab", vocab, "pieces, PAD 0, BOS 1, EOS 2 and UNK 3 included")
      ->check(between(8, 1 << 20))
      ->capture_default_str();
  train->add_option("-o,--output", output, "the model file to write")->required();
  encode = cmd->add_subcommand("encode", "print the token ids of each line of stdin");
  encode->add_option("--tokenizer", tokenizer, "a model from kiln tokenizer train")->required();
  encode->add_flag("--pieces", pieces, "print the pieces instead of their ids");
  decode = cmd->add_subcommand("decode", "print the text of each line of token ids on stdin");
  decode->add_option("--tokenizer", tokenizer, "a model from kiln tokenizer train")->required();
  return cmd;
}

int TokenizerCommand::run() const {
  if (train->parsed()) {
    checkWritable(output);
    data::Corpus c = data::loadCorpus(corpus.spec);
    std::vector<std::string> sentences = data::sentencesOf(c.train);
    std::cerr << fmt::format("kiln tokenizer: training a unigram model of {} pieces on the {} "
                             "sentences of {}'s training pairs\n",
                             vocab, sentences.size(), corpus.spec.data);
    auto start = std::chrono::steady_clock::now();
    data::Tokenizer t = data::Tokenizer::train(sentences, {.vocab = vocab});
    t.save(output);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t ids = 0;
    for (const std::string &s : sentences)
      ids += static_cast<int64_t>(t.encode(s).size());
    std::cerr << fmt::format("kiln tokenizer: wrote {} in {:.1f} s ({} pieces; {:.2f} pieces a "
                             "sentence on the training split)\n",
                             output, seconds, t.vocabSize(),
                             static_cast<double>(ids) / static_cast<double>(sentences.size()));
    return 0;
  }
  data::Tokenizer t = data::Tokenizer::load(tokenizer);
  std::string line;
  for (int number = 1; std::getline(std::cin, line); ++number) {
    if (encode->parsed()) {
      std::vector<std::string> out;
      if (pieces)
        out = t.pieces(line);
      else
        for (int64_t id : t.encode(line))
          out.push_back(std::to_string(id));
      std::cout << fmt::format("{}\n", fmt::join(out, " "));
    } else {
      try {
        std::cout << t.decode(idsOf(line, number)) << "\n";
      } catch (const Error &e) {
        if (e.location().known())
          throw;
        throw Error({"<stdin>", number}, e.message());
      }
    }
  }
  return 0;
}

} // namespace kiln::tools
