#include "tools/translate_command.h"

#include "compiler/programs.h"
#include "runtime/checkpoint.h"
#include "runtime/data/tokenizer.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"
#include "runtime/safetensors.h"
#include "tools/model_options.h"
#include "tools/tool_support.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <numeric>

namespace kiln::tools {
namespace {

int64_t roundUp(int64_t n, int64_t step) { return (n + step - 1) / step * step; }

} // namespace

void SearchFlags::add(CLI::App &cmd, bool with_nbest) {
  cmd.add_option("--ckpt", ckpt, "a checkpoint written by kiln train --data")->required();
  cmd.add_option("--batch", batch, "sentences translated at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--max-length", max_length, "tokens of a translation, at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--beam", beam, "beam search of this width (the default search)")
      ->check(CLI::Range(int64_t{1}, int64_t{256}))
      ->capture_default_str();
  cmd.add_option("--length-penalty", length_penalty,
                 "beam: alpha of GNMT's ((5 + length) / 6)^alpha (0: none)")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
  if (with_nbest)
    cmd.add_option("--nbest", nbest,
                   "beam: print the N best of each sentence as line<TAB>score<TAB>text")
        ->check(CLI::PositiveNumber);
  auto *greedy_flag = cmd.add_flag("--greedy", greedy, "greedy search instead of a beam");
  auto *sample_flag =
      cmd.add_flag("--sample", sample, "sample from the model instead of searching");
  greedy_flag->excludes(sample_flag);
  cmd.add_option("--temperature", temperature, "sample: softmax temperature")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--top-k", top_k, "sample: only the k most likely tokens (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--top-p", top_p, "sample: only the most likely tokens of this mass")
      ->check(CLI::Range(1e-9, 1.0))
      ->capture_default_str();
  cmd.add_option("--seed", seed, "sample: the seed of the draws")->capture_default_str();
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
  const auto &[ckpt, batch, max_length, beam, nbest, top_k, greedy, sample, length_penalty,
               temperature, top_p, seed, backend] = f;
  SearchFlags defaults;
  if (!sample && (temperature != defaults.temperature || top_k != defaults.top_k ||
                  top_p != defaults.top_p || seed != defaults.seed))
    throw Error({}, "--temperature, --top-k, --top-p and --seed need --sample");
  if ((greedy || sample) && (beam != defaults.beam || length_penalty != defaults.length_penalty))
    throw Error({}, "--beam and --length-penalty are for beam search, not --greedy or --sample");
  if (nbest > 0 && (greedy || sample))
    throw Error({}, "--nbest lists the beam's best: it excludes --greedy and --sample");
  if (nbest > beam)
    throw Error({}, fmt::format("--nbest {} is more than the beam's width {}", nbest, beam));
  int64_t width = greedy || sample ? 1 : beam;
  std::map<std::string, std::string> meta = readSafetensorsMetadata(ckpt);
  auto stored = meta.find("kiln.tokenizer");
  if (stored == meta.end())
    throw Error({ckpt}, "the checkpoint holds no tokenizer: translate with a checkpoint of "
                        "kiln train --data");
  data::Tokenizer tokenizer = data::Tokenizer::fromBase64(stored->second, ckpt);
  TransformerConfig cfg = configFromMetadata(meta, ckpt);
  if (cfg.vocab != tokenizer.vocabSize())
    throw Error({ckpt}, fmt::format("the model's vocabulary of {} differs from its tokenizer's {}",
                                    cfg.vocab, tokenizer.vocabSize()));
  std::vector<std::vector<int64_t>> sources;
  for (const std::string &line : lines)
    sources.push_back(tokenizer.encode(line));

  // Sentences of similar lengths share a batch and its program; an empty line stays empty.
  std::vector<size_t> order;
  for (size_t i = 0; i < lines.size(); ++i)
    if (!sources[i].empty())
      order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sources[a].size() < sources[b].size(); });
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Executable>> programs;
  std::map<std::string, HostBuffer> weights;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<HostBuffer>> bound;
  std::vector<std::vector<Translation>> out(lines.size());
  for (size_t first = 0; first < order.size(); first += static_cast<size_t>(batch)) {
    size_t last = std::min(order.size(), first + static_cast<size_t>(batch));
    int64_t rows = static_cast<int64_t>(last - first);
    int64_t src_len = roundUp(static_cast<int64_t>(sources[order[last - 1]].size()) + 1, 8);
    int64_t tgt_len = std::min(max_length, roundUp(2 * src_len, 8));
    auto key = std::tuple(rows * width, src_len, tgt_len);
    if (!programs.count(key)) {
      GraphOptions opts{.batch = rows * width, .src_len = src_len, .tgt_len = tgt_len};
      BuiltModel m = buildLoss(cfg, opts);
      if (weights.empty()) {
        std::vector<TensorDecl> decls;
        for (const ParamSpec &p : m.params)
          decls.push_back({p.name, p.type});
        weights = loadCheckpoint(ckpt, decls, true);
      }
      programs[key] = backend.get().compile(*m.graph, backend.options());
    }
    Executable &exe = *programs[key];
    HostBuffer src(TensorType{DType::i64, {rows, src_len}});
    std::span<int64_t> s = src.as<int64_t>();
    std::fill(s.begin(), s.end(), cfg.tokens.pad);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<int64_t> &ids = sources[order[first + static_cast<size_t>(r)]];
      std::copy(ids.begin(), ids.end(), s.begin() + r * src_len);
      s[r * src_len + static_cast<int64_t>(ids.size())] = cfg.tokens.eos;
    }
    const Signature &sig = exe.signature();
    // The weights are bound once; each step replaces only src and tgt.
    std::vector<HostBuffer> &inputs = bound[key];
    if (inputs.empty())
      for (const Signature::Input &in : sig.inputs)
        inputs.push_back(in.role == InputRole::Source || in.role == InputRole::Target
                             ? HostBuffer(in.type)
                             : weights.at(in.name));
    auto logits = [&](const HostBuffer &source, const HostBuffer &target) {
      for (size_t i = 0; i < sig.inputs.size(); ++i)
        if (sig.inputs[i].role == InputRole::Source)
          inputs[i] = source;
        else if (sig.inputs[i].role == InputRole::Target)
          inputs[i] = target;
      return std::move(exe.run(inputs)[*sig.findOutput("logits")]);
    };
    decode::DecodeTokens special{cfg.tokens.pad, cfg.tokens.bos, cfg.tokens.eos};
    std::vector<std::vector<decode::Hypothesis>> found(rows);
    if (greedy || sample) {
      std::vector<std::vector<int64_t>> ids =
          greedy ? decode::greedyDecode(logits, src, tgt_len, special)
                 : decode::sample(logits, src, tgt_len,
                                  {.temperature = temperature,
                                   .top_k = top_k,
                                   .top_p = top_p,
                                   .seed = seed,
                                   .stream = first},
                                  special);
      for (int64_t r = 0; r < rows; ++r)
        found[r].push_back({ids[r], 0, 0});
    } else {
      found = decode::beamSearch(
          logits, src, tgt_len,
          {.width = beam, .length_penalty = length_penalty, .nbest = std::max<int64_t>(1, nbest)},
          special);
    }
    for (int64_t r = 0; r < rows; ++r)
      for (const decode::Hypothesis &h : found[r])
        out[order[first + static_cast<size_t>(r)]].push_back({h.score, tokenizer.decode(h.tokens)});
  }
  return out;
}

int TranslateCommand::run() const {
  std::vector<std::vector<Translation>> out = translateLines(search, readLines(input));
  for (size_t i = 0; i < out.size(); ++i) {
    if (search.nbest == 0) {
      std::cout << (out[i].empty() ? "" : out[i][0].text) << "\n";
      continue;
    }
    for (const Translation &t : out[i])
      std::cout << fmt::format("{}\t{:.4f}\t{}\n", i + 1, t.score, t.text);
  }
  return 0;
}

} // namespace kiln::tools
