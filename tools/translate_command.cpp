#include "tools/translate_command.h"

#include "compiler/programs.h"
#include "runtime/checkpoint.h"
#include "runtime/data/tokenizer.h"
#include "runtime/safetensors.h"
#include "tools/model_options.h"
#include "tools/tool_support.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <numeric>

namespace kiln::tools {

void SearchFlags::add(CLI::App &cmd, bool with_nbest) {
  SearchOptions &o = options;
  cmd.add_option("--ckpt", ckpt, "a checkpoint written by kiln train --data")->required();
  cmd.add_option("--batch", o.batch, "sentences translated at once")
      ->check(positive())
      ->capture_default_str();
  cmd.add_option("--max-length", o.max_length, "tokens of a translation, at most")
      ->check(positive())
      ->capture_default_str();
  cmd.add_option("--beam", o.beam, "beam search of this width (the default search)")
      ->check(between(1, 256))
      ->capture_default_str();
  cmd.add_option("--length-penalty", o.length_penalty,
                 "beam: alpha of GNMT's ((5 + length) / 6)^alpha (0: none)")
      ->check(between(0.0, 10.0))
      ->capture_default_str();
  if (with_nbest)
    cmd.add_option("--nbest", o.nbest,
                   "beam: print the N best of each sentence as line<TAB>score<TAB>text")
        ->check(positive());
  auto *greedy_flag = cmd.add_flag("--greedy", o.greedy, "greedy search instead of a beam");
  auto *sample_flag =
      cmd.add_flag("--sample", o.sample, "sample from the model instead of searching");
  greedy_flag->excludes(sample_flag);
  cmd.add_option("--temperature", o.temperature, "sample: softmax temperature")
      ->check(positive())
      ->capture_default_str();
  cmd.add_option("--top-k", o.top_k, "sample: only the k most likely tokens (0: all)")
      ->check(nonNegative())
      ->capture_default_str();
  cmd.add_option("--top-p", o.top_p, "sample: only the most likely tokens of this mass")
      ->check(fraction())
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "sample: the seed of the draws")
      ->check(unsignedInteger())
      ->capture_default_str();
  backend.add(cmd, "cpu");
}

CLI::App *TranslateCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "translate", "translate lines of text with a checkpoint of kiln train --data");
  search.add(*cmd, true);
  cmd->add_option("--input", input, "a file of sentences, one a line (default: stdin)");
  return cmd;
}

std::vector<std::vector<Translation>> translateLines(const SearchFlags &f,
                                                     const std::vector<std::string> &lines) {
  f.options.check();
  std::map<std::string, std::string> meta = readSafetensorsMetadata(f.ckpt);
  auto stored = meta.find("kiln.tokenizer");
  if (stored == meta.end())
    throw Error({f.ckpt}, "the checkpoint holds no tokenizer: translate with a checkpoint of "
                          "kiln train --data");
  data::Tokenizer tokenizer = data::Tokenizer::fromBase64(stored->second, f.ckpt);
  TransformerConfig cfg = configFromMetadata(meta, f.ckpt);
  if (cfg.vocab != tokenizer.vocabSize())
    throw Error({f.ckpt},
                fmt::format("the model's vocabulary of {} differs from its tokenizer's {}",
                            cfg.vocab, tokenizer.vocabSize()));
  std::vector<TensorDecl> decls;
  for (const ParamSpec &p : buildTransformer(cfg, Stage::Forward, {}).params)
    decls.push_back({p.name, p.type});
  Bindings weights = loadCheckpoint(f.ckpt, decls, true);
  Translator translator(cfg, tokenizer, f.backend);
  return translator.translate(weights, f.options, lines);
}

int TranslateCommand::run() const {
  std::vector<std::vector<Translation>> out = translateLines(search, readLines(input));
  for (size_t i = 0; i < out.size(); ++i) {
    if (search.options.nbest == 0) {
      std::cout << (out[i].empty() ? "" : out[i][0].text) << "\n";
      continue;
    }
    for (const Translation &t : out[i])
      std::cout << fmt::format("{}\t{:.4f}\t{}\n", i + 1, t.score, t.text);
  }
  return 0;
}

} // namespace kiln::tools
