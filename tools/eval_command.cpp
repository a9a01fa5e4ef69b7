#include "tools/eval_command.h"

#include "ir/diagnostics.h"
#include "runtime/checkpoint.h"
#include "runtime/eval/bleu.h"
#include "runtime/safetensors.h"
#include "tools/corpus_programs.h"
#include "tools/model_options.h"
#include "tools/tool_support.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>

namespace kiln::tools {
CLI::App *BleuCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "bleu", "corpus BLEU of translations against references, as sacreBLEU computes it");
  cmd->add_option("--hyp", hyp, "translations, one a line")->required();
  cmd->add_option("--ref", ref, "their references, one a line, as many")->required();
  cmd->add_flag("--tokens", tokens, "print each translation as the 13a tokeniser splits it");
  return cmd;
}

int BleuCommand::run() const {
  std::vector<std::string> h = readLines(hyp), r = readLines(ref);
  if (h.empty())
    throw Error({hyp}, "no lines to score");
  if (h.size() != r.size())
    throw Error({hyp}, fmt::format("{} lines, but {} has {}", h.size(), ref, r.size()));
  if (tokens) {
    for (const std::string &line : h)
      std::cout << eval::tokenize13a(line) << "\n";
    return 0;
  }
  std::cout << eval::corpusBleu(h, r).str() << "\n";
  return 0;
}

CLI::App *EvalCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "eval", "translate a split of the checkpoint's corpus and score it with BLEU");
  search.add(*cmd, false);
  corpus.spec.data.clear();
  corpus.add(*cmd, "the corpus (default: the checkpoint's, in its direction)");
  cmd->add_option("--split", split, "valid or test (ding-en-de); a TSV --valid is valid")
      ->check(CLI::IsMember({"valid", "test"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", output, "also write the translations here, one a line");
  return cmd;
}

int EvalCommand::run() const {
  data::CorpusSpec spec = corpus.spec;
  if (spec.data.empty()) {
    // The checkpoint's corpus, in its direction, with its validation file.
    if (spec.split.reverse)
      throw Error({}, "--reverse needs --data: without it the checkpoint's direction holds");
    std::map<std::string, std::string> meta = readSafetensorsMetadata(search.ckpt);
    auto data = meta.find("kiln.data");
    if (data == meta.end())
      throw Error({search.ckpt}, "the checkpoint names no corpus: give --data");
    spec.data = data->second;
    spec.split.reverse = meta["kiln.reverse"] == "1";
    if (spec.valid.empty() && spec.data != data::kDingCorpus)
      spec.valid = meta["kiln.valid"];
  }
  if (!output.empty())
    checkWritable(output);
  data::Corpus c = data::loadCorpus(spec);
  const std::vector<data::SentencePair> &pairs = split == "test" ? c.test : c.valid;
  if (pairs.empty())
    throw Error({spec.data}, fmt::format("the corpus has no {} pairs{}", split,
                                         spec.data == data::kDingCorpus
                                             ? ""
                                             : " (a TSV corpus: --split valid with --valid FILE)"));
  std::vector<std::string> sources, references;
  for (const data::SentencePair &p : pairs) {
    sources.push_back(p.source);
    references.push_back(p.target);
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<Translation>> found = translateLines(search, sources);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> hypotheses;
  for (const std::vector<Translation> &t : found)
    hypotheses.push_back(t.empty() ? "" : t[0].text);
  if (!output.empty())
    writeTextFile(output, fmt::format("{}\n", fmt::join(hypotheses, "\n")));
  std::string how = search.options.greedy   ? "greedy"
                    : search.options.sample ? "sampled"
                                            : fmt::format("beam {}", search.options.beam);
  std::cout << fmt::format("{} {} pairs of {}{}, {}, translated in {:.1f} s\n", pairs.size(), split,
                           spec.data, spec.split.reverse ? " (reversed)" : "", how, seconds);
  std::cout << eval::corpusBleu(hypotheses, references).str() << "\n";

  // The loss of the references under the model, batched as training batches them.
  std::map<std::string, std::string> meta = readSafetensorsMetadata(search.ckpt);
  TransformerConfig cfg = configFromMetadata(meta, search.ckpt);
  data::Tokenizer tokenizer = data::Tokenizer::fromBase64(meta["kiln.tokenizer"], search.ckpt);
  ProgramCache losses([&](const GraphOptions &o) { return buildLoss(cfg, o); }, search.backend, 0);
  data::BatchingOptions batching{.max_length = std::numeric_limits<int64_t>::max() / 2,
                                 .pad = cfg.tokens.pad,
                                 .eos = cfg.tokens.eos};
  data::BatchSchedule batches(encode(tokenizer, pairs), batching, 0, false);
  std::vector<TensorDecl> decls;
  for (const ParamSpec &p : buildLoss(cfg, {.batch = 1, .src_len = 1, .tgt_len = 1}).params)
    decls.push_back({p.name, p.type});
  std::map<std::string, HostBuffer> weights = loadCheckpoint(search.ckpt, decls, true);
  std::cout << fmt::format("loss {:.4f} (cross-entropy per reference token)\n",
                           validationLoss(losses, batches, weights, cfg.tokens.pad));
  return 0;
}

} // namespace kiln::tools
