// `kiln train --data`: a translator trained on a corpus. The pairs are tokenized (a tokenizer
// given, or one trained on the training split and cached), bucketed into batches under a token
// budget, and each bucket's shape gets its own training-step program, compiled when it first
// comes up. Progress goes to a bar on a terminal and to plain lines elsewhere; the validation
// loss comes every --valid-every steps; a checkpoint holds the weights, the optimizer state, the
// step (which fixes the data position: batches are a function of the step) and the tokenizer.

#include "compiler/programs.h"
#include "runtime/batch_share.h"
#include "runtime/cache_directory.h"
#include "runtime/data/batching.h"
#include "runtime/data/tokenizer.h"
#include "runtime/eval/bleu.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
#include "tools/corpus_programs.h"
#include "tools/stop_signals.h"
#include "tools/tool_support.h"
#include "tools/train_command.h"
#include "tools/translator.h"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <regex>

namespace kiln::tools {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// "90s", "15m", "1h30m" or a plain number of seconds, at most a year.
double parseDuration(const std::string &text) {
  static const std::regex form(
      R"(^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$)");
  std::smatch m;
  if (text.empty() || !std::regex_match(text, m, form))
    throw UsageError(
        {}, fmt::format("--time-budget '{}' is not a duration such as 90s, 15m or 1h30m", text));
  constexpr double kYear = 366 * 24 * 3600.0;
  auto part = [&](int i) {
    if (!m[i].matched)
      return 0.0;
    double v = 0; // the form has only digits and a point: out of range is the one failure
    auto [end, ec] = std::from_chars(&*m[i].first, &*m[i].first + m[i].length(), v);
    return ec == std::errc() ? v : kYear + 1;
  };
  double seconds = 3600 * part(1) + 60 * part(2) + part(3);
  if (!(seconds > 0 && seconds <= kYear))
    throw Error({},
                fmt::format("--time-budget must be positive and at most a year, found '{}'", text));
  return seconds;
}

/// "1:02:03" or "2:03".
std::string clock(double seconds) {
  auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

/// A tokenizer trained on the training split, from the cache when the same text and size
/// trained one before.
data::Tokenizer cachedTokenizer(const data::Corpus &corpus, int64_t vocab) {
  std::vector<std::string> text = data::sentencesOf(corpus.train);
  std::string key = fmt::format("unigram {}\n", vocab);
  for (const std::string &s : text)
    key += s + "\n";
  std::string dir = cacheDirectory();
  std::string path =
      dir.empty()
          ? ""
          : (std::filesystem::path(dir) / "tokenizers" / (data::md5Hex(key) + ".model")).string();
  if (!path.empty() && std::filesystem::exists(path)) {
    try {
      data::Tokenizer t = data::Tokenizer::load(path);
      std::cout << fmt::format("tokenizer: {} pieces, from the cache ({})\n", t.vocabSize(), path);
      return t;
    } catch (const Error &) {
      // A damaged entry is trained again and replaced.
    }
  }
  std::cout << fmt::format("tokenizer: training {} pieces on the training split...\n", vocab)
            << std::flush;
  Clock::time_point start = Clock::now();
  data::Tokenizer t = data::Tokenizer::train(text, {.vocab = vocab});
  if (!path.empty()) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    t.save(path);
  }
  std::cout << fmt::format("tokenizer: trained in {:.1f} s{}\n", secondsSince(start),
                           path.empty() ? "" : fmt::format(", cached in {}", path));
  return t;
}

/// One progress report: a line rewritten in place on a terminal, a plain line elsewhere.
class Progress {
public:
  Progress(int64_t steps, std::optional<double> budget)
      : steps_(steps), budget_(budget), terminal_(isatty(STDOUT_FILENO)) {}

  void step(const StepReport &r, double elapsed, double tokens_per_second, bool log) {
    double left = static_cast<double>(steps_ - r.step) * elapsed /
                  static_cast<double>(std::max<int64_t>(1, r.step - first_step_));
    if (budget_)
      left = std::min(left, std::max(0.0, *budget_ - elapsed));
    std::string of =
        steps_ == std::numeric_limits<int64_t>::max() ? "" : fmt::format("/{}", steps_);
    std::string text = fmt::format(
        "step {:>6}{}  loss {:.4f}{}  {:>6.0f} tok/s  lr {:.2e}  {} elapsed  ETA {}", r.step, of,
        r.loss, accuracyText(r), tokens_per_second, r.lr, clock(elapsed), clock(left));
    if (terminal_)
      std::cout << "\r" << text << "\033[K" << std::flush;
    else if (log)
      std::cout << text << "\n" << std::flush;
  }
  /// A line of its own (validation, checkpoints), below the bar.
  void note(const std::string &text) {
    if (terminal_)
      std::cout << "\r\033[K";
    std::cout << text << "\n" << std::flush;
  }
  void start(int64_t step) { first_step_ = step; }
  void finish() {
    if (terminal_)
      std::cout << "\n";
  }

private:
  int64_t steps_, first_step_ = 0;
  std::optional<double> budget_;
  bool terminal_;
};

/// The name a checkpoint records for a corpus: ding-en-de, or a TSV file's absolute path.
std::string dataName(const std::string &data) {
  return data == data::kDingCorpus ? data
                                   : std::filesystem::absolute(data).lexically_normal().string();
}

std::string defaultCheckpoint(const TransformerConfig &cfg, const std::string &data) {
  return fmt::format("{}.{}.safetensors", cfg.name, std::filesystem::path(data).stem().string());
}

/// Where --keep-best saves: run.safetensors gives run.best.safetensors.
std::string bestCheckpoint(const std::string &save) {
  std::filesystem::path p(save);
  return (p.parent_path() / (p.stem().string() + ".best" + p.extension().string())).string();
}

} // namespace

int runCorpusTraining(const TrainFlags &f) {
  if (f.keep_best && (f.valid_bleu == 0 || f.valid_every == 0))
    throw Error({}, "--keep-best keeps the best validation BLEU: it needs validation pairs, "
                    "--valid-every and --valid-bleu above 0");
  TransformerConfig cfg = f.model.resolve();
  OptimizerOptions opt = optimizerOptions(f, cfg.d_model);
  std::optional<double> budget;
  if (!f.time_budget.empty())
    budget = parseDuration(f.time_budget);
  // A time budget without --steps runs until the budget is spent.
  int64_t last_step = budget && !f.steps_given ? std::numeric_limits<int64_t>::max() : f.steps;
  TrainFlags synthetic;
  if (f.task != synthetic.task || f.batch != synthetic.batch || f.src_len != synthetic.src_len ||
      f.tgt_len != synthetic.tgt_len)
    throw Error({}, "--task, --batch, --src-len and --tgt-len are for the synthetic tasks; with "
                    "--data, --batch-tokens sizes the batches");
  TokenIds ids;
  if (!(cfg.tokens.pad == ids.pad && cfg.tokens.bos == ids.bos && cfg.tokens.eos == ids.eos &&
        cfg.tokens.unk == ids.unk))
    throw Error({}, "with --data the token ids are the tokenizer's: PAD 0, BOS 1, EOS 2, UNK 3");
  if (f.task_vocab)
    throw Error({}, "--task-vocab is for the synthetic tasks; with --data the tokenizer sets the "
                    "vocabulary");
  // The paper's regularisation for real data, unless asked otherwise.
  if (!f.model.label_smoothing)
    cfg.label_smoothing = 0.1;

  const data::CorpusSpec &spec = f.corpus.spec;
  std::string save = !f.save.empty()     ? f.save
                     : !f.resume.empty() ? f.resume
                                         : defaultCheckpoint(cfg, spec.data);
  checkWritable(save);
  data::Corpus corpus = data::loadCorpus(spec);
  if (corpus.train.empty())
    throw Error({spec.data}, "no training pairs");
  std::cout << fmt::format("data: {}{}: {} training pairs, {} validation pairs\n", spec.data,
                           spec.split.reverse ? " (reversed)" : "", corpus.train.size(),
                           corpus.valid.size());

  std::string fingerprint =
      data::md5Hex(fmt::format("{}", fmt::join(data::sentencesOf(corpus.train), "\n")));
  std::map<std::string, std::string> meta;
  if (!f.resume.empty()) {
    meta = readSafetensorsMetadata(f.resume);
    Location at{f.resume};
    if (!meta.count("kiln.data"))
      throw Error(at, "the checkpoint was not trained on a corpus (no kiln.data)");
    if (meta["kiln.pairs"] != fingerprint ||
        meta["kiln.reverse"] != (spec.split.reverse ? "1" : "0"))
      throw Error(at,
                  fmt::format("the checkpoint was trained on other pairs: {}{}, not {}{}",
                              meta["kiln.data"], meta["kiln.reverse"] == "1" ? " --reverse" : "",
                              spec.data, spec.split.reverse ? " --reverse" : ""));
    if (!f.tokenizer.empty())
      throw Error({}, "--tokenizer with --resume: the run goes on with the checkpoint's tokenizer");
    // The model is the checkpoint's; flags that say otherwise are a mistake.
    if (!describesModel(meta))
      throw Error(at, "the checkpoint does not describe its model (no kiln.model.d_model)");
    double smoothing = cfg.label_smoothing;
    cfg = f.model.resolveFor(meta, f.resume);
    if (!meta.count("kiln.model.label_smoothing") && !f.model.label_smoothing)
      cfg.label_smoothing = smoothing; // a checkpoint from before it was recorded
    checkResume(meta, f.resume, runSettings(f, opt), last_step, f.steps_given);
    opt.d_model = cfg.d_model; // the schedule's scale
  }
  data::Tokenizer tokenizer =
      !f.resume.empty() ? data::Tokenizer::fromBase64(meta["kiln.tokenizer"], f.resume)
      : !f.tokenizer.empty()
          ? data::Tokenizer::load(f.tokenizer)
          : cachedTokenizer(corpus, f.model.vocab.value_or(data::TokenizerOptions{}.vocab));
  if (f.model.vocab && *f.model.vocab != tokenizer.vocabSize())
    throw Error({}, fmt::format("--vocab {} differs from the tokenizer's {} pieces", *f.model.vocab,
                                tokenizer.vocabSize()));
  cfg.vocab = tokenizer.vocabSize();

  data::BatchingOptions batching{.batch_tokens = f.batch_tokens,
                                 .max_length = f.max_length,
                                 .pad = cfg.tokens.pad,
                                 .eos = cfg.tokens.eos};
  data::BatchSchedule train(encode(tokenizer, corpus.train), batching, f.seed);
  data::BatchingOptions valid_batching = batching;
  valid_batching.max_length = std::numeric_limits<int64_t>::max() / 2;
  data::BatchSchedule valid(encode(tokenizer, corpus.valid), valid_batching, f.seed, false);
  if (train.batchesPerEpoch() == 0)
    throw Error({spec.data},
                fmt::format("every training pair is longer than --max-length {}", f.max_length));
  std::cout << fmt::format("batches: {} an epoch in {} shapes ({} padded tokens at most; {} "
                           "pairs longer than {} tokens left out)\n",
                           train.batchesPerEpoch(), train.buckets().size(), f.batch_tokens,
                           train.dropped(), f.max_length);

  std::string passes = withPrecision(f.passes, f.precision);
  ProgramCache steps(
      [&](const GraphOptions &o) {
        return buildTrainStep(cfg, o, opt, passes, dataParallelBuckets(f));
      },
      f.backend, f.dropout);
  TransformerConfig plain = cfg;
  plain.label_smoothing = 0;
  ProgramCache losses([&](const GraphOptions &o) { return buildLoss(plain, o, passes); }, f.backend,
                      0);

  Trainer trainer([&](const Batch &b) -> Executable & { return steps.at(shapeOf(b)); },
                  [&](int64_t step) { return train.batchAt(step); }, cfg.tokens.pad, f.seed);
  trainer.joinGroup(f.rank, f.ranks);
  // Every bucket comes up in the first epoch: compile their programs before the clock starts.
  std::cout << fmt::format("compiling {} training steps, one per batch shape...\n",
                           train.buckets().size())
            << std::flush;
  for (const auto &[shape, pairs] : train.buckets())
    steps.at({shareRows(shape.batch, f.rank, f.ranks), shape.src_len, shape.tgt_len});
  std::cout << fmt::format("compiled in {:.1f} s\n", steps.compileSeconds());
  TrainerState state;
  data::BatchShape first_shape = train.shapeAt(1);
  first_shape.batch = shareRows(first_shape.batch, f.rank, f.ranks);
  Executable &first = steps.at(first_shape);
  if (!f.resume.empty()) {
    state = loadTrainerState(f.resume, first.signature());
    std::cout << fmt::format("resumed from {} at step {}\n", f.resume, state.step);
  } else {
    state.tensors = initialParameters(steps.params(), f.seed);
  }
  trainer.initState(state);
  std::map<std::string, std::string> metadata = configMetadata(cfg);
  metadata.merge(settingsMetadata(runSettings(f, opt)));
  metadata.insert({{"kiln.task", "data"},
                   {"kiln.data", dataName(spec.data)},
                   {"kiln.valid", spec.valid.empty() ? "" : dataName(spec.valid)},
                   {"kiln.pairs", fingerprint},
                   {"kiln.reverse", spec.split.reverse ? "1" : "0"},
                   {"kiln.tokenizer", tokenizer.base64()}});
  auto checkpoint = [&](Progress &progress) {
    if (std::string path = rankSavePath(f, save); !path.empty())
      saveTrainerState(path, state, metadata);
    progress.note(fmt::format("saved step {} to {}", state.step, save));
  };
  // Validation: the loss over every validation pair, and the BLEU of greedy translations of the
  // first --valid-bleu of them, with the checkpoint of the best BLEU kept on --keep-best.
  std::string best_path = bestCheckpoint(save);
  if (f.keep_best && corpus.valid.empty())
    throw Error({spec.data}, "--keep-best keeps the best validation BLEU: the corpus has no "
                             "validation pairs (a TSV corpus: --valid FILE)");
  if (f.keep_best)
    checkWritable(best_path);
  size_t bleu_pairs = std::min(corpus.valid.size(), static_cast<size_t>(f.valid_bleu));
  std::vector<std::string> bleu_sources, bleu_references;
  for (size_t i = 0; i < bleu_pairs; ++i) {
    bleu_sources.push_back(corpus.valid[i].source);
    bleu_references.push_back(corpus.valid[i].target);
  }
  Translator translator(cfg, tokenizer, f.backend);
  // A resumed run goes on from the best checkpoint it kept.
  double best_bleu = -1;
  if (f.keep_best && !f.resume.empty() && std::filesystem::exists(best_path)) {
    std::map<std::string, std::string> kept = readSafetensorsMetadata(best_path);
    if (kept.count("kiln.best_bleu"))
      best_bleu = std::stod(kept["kiln.best_bleu"]);
  }
  auto validate = [&](Progress &progress) {
    std::string line =
        fmt::format("step {}: validation loss {:.4f} (cross-entropy per token)", state.step,
                    validationLoss(losses, valid, state.tensors, cfg.tokens.pad));
    if (bleu_pairs > 0) {
      std::vector<std::string> hypotheses;
      for (const auto &t : translator.translate(state.tensors, {.greedy = true}, bleu_sources))
        hypotheses.push_back(t.empty() ? "" : t[0].text);
      double bleu = eval::corpusBleu(hypotheses, bleu_references).score;
      line += fmt::format(", BLEU {:.2f} (greedy, {} pairs)", bleu, bleu_pairs);
      if (f.keep_best && bleu > best_bleu) {
        best_bleu = bleu;
        std::map<std::string, std::string> kept = metadata;
        kept["kiln.best_bleu"] = fmt::format("{:.17g}", bleu);
        if (f.rank == 0)
          saveTrainerState(best_path, state, kept);
        line += fmt::format(", the best so far: saved to {}", best_path);
      }
    }
    progress.note(line);
  };
  std::cout << fmt::format(
      "training {} (vocabulary {}) for {} steps{} on {}; checkpoints go to "
      "{}\n",
      cfg.name, cfg.vocab,
      last_step == std::numeric_limits<int64_t>::max() ? std::string("unlimited")
                                                       : std::to_string(last_step),
      budget ? fmt::format(" or {}", clock(*budget)) : "", f.backend.backend, save);

  StopSignals stop;
  Progress progress(last_step, budget);
  progress.start(state.step);
  Clock::time_point start = Clock::now(), window = start;
  int64_t tokens = 0;
  // The ranks agree whether to stop (a signal, or a time budget spent on some rank) before the
  // first step and after each one, with one reduction, so that they stop at the same step.
  auto spent = [&] { return budget && secondsSince(start) >= *budget; };
  bool group_stop = groupStops(f, stop.requested() || spent());
  while (state.step < last_step && !group_stop) {
    StepReport r = trainer.step(state);
    if (std::string note = checkStep(r); !note.empty())
      progress.note(note);
    tokens += r.tokens;
    double span = secondsSince(window);
    bool log = r.step % f.log_every == 0 || r.step == last_step;
    progress.step(r, secondsSince(start), span > 0 ? static_cast<double>(tokens) / span : 0, log);
    if (log) {
      window = Clock::now();
      tokens = 0;
    }
    group_stop = groupStops(f, stop.requested() || spent());
    // After a signal, the run saves at once below, without validating first.
    if (group_stop && stop.requested())
      break;
    if (f.valid_every > 0 && r.step % f.valid_every == 0 && valid.batchesPerEpoch() > 0)
      validate(progress);
    if (f.save_every > 0 && r.step % f.save_every == 0)
      checkpoint(progress);
  }
  // Stopped by the budget, or by another rank's signal or budget.
  bool stopped = group_stop && !stop.requested();
  if (stop.requested())
    progress.note(fmt::format("{} at step {}: saving the run", stop.name(), state.step));
  else if (stopped && spent())
    progress.note(
        fmt::format("the time budget of {} is spent at step {}", clock(*budget), state.step));
  else if (stopped)
    progress.note(
        fmt::format("another rank stops the run at step {} (its time budget or a signal): "
                    "saving the run",
                    state.step));
  bool validated = f.valid_every > 0 && state.step % f.valid_every == 0;
  // A signal asks to stop now: save at once, without a last validation; --valid-every 0 never
  // validates.
  if (f.valid_every > 0 && valid.batchesPerEpoch() > 0 && !validated && !stop.requested())
    validate(progress);
  bool saved = f.save_every > 0 && state.step % f.save_every == 0 && !stopped && !stop.requested();
  if (!saved)
    checkpoint(progress);
  progress.finish();
  std::cout << fmt::format("{} training and {} loss programs compiled in {:.1f} s\n", steps.size(),
                           losses.size(), steps.compileSeconds() + losses.compileSeconds());
  return stop.exitStatus();
}

} // namespace kiln::tools
