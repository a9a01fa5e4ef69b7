#include "tools/train_command.h"

#include "compiler/programs.h"
#include "runtime/batch_share.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
#include "tools/data_parallel.h"
#include "tools/stop_signals.h"
#include "tools/tool_support.h"

#include <fmt/ranges.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <iostream>

namespace kiln::tools {

void TrainFlags::add(CLI::App &app) {
  model.add(app);
  backend.add(app, "cpu");
  app.add_option("--task", task, "copy or reverse")
      ->check(CLI::IsMember({"copy", "reverse"}))
      ->capture_default_str();
  app.add_option("--steps", steps,
                 "steps to run, in total, counting resumed ones (default: 300 on a synthetic "
                 "task; with --data, 100, or unlimited with --time-budget)")
      ->check(nonNegative())
      ->each([this](const std::string &) { steps_given = true; });
  app.add_option("--seed", seed, "seed of the weights, the data and dropout")
      ->check(unsignedInteger())
      ->capture_default_str();
  app.add_option("--batch", batch, "sentences per batch")->check(positive())->capture_default_str();
  app.add_option("--src-len", src_len, "padded source length")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--tgt-len", tgt_len, "padded target length")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--dropout", dropout, "dropout rate")->check(rate())->capture_default_str();
  app.add_option("--optimizer", optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  app.add_option("--lr", lr,
                 "a constant learning rate (default: 1e-3 on a synthetic task unless --warmup "
                 "is given; with --data, the paper's warm-up schedule)")
      ->check(positive());
  app.add_option("--warmup", warmup, "warm-up steps of the paper's schedule")
      ->check(positive())
      ->each([this](const std::string &) { warmup_given = true; })
      ->capture_default_str();
  app.add_option("--clip-norm", clip_norm, "clip gradients to this global norm")->check(positive());
  app.add_option("--weight-decay", weight_decay, "weight decay")
      ->check(nonNegative())
      ->capture_default_str();
  app.add_flag("--skip-nonfinite", skip_nonfinite,
               "a step whose loss or gradients are NaN or infinite changes no weight and training "
               "goes on (default: such a step stops the run, which then saves nothing)");
  app.add_option("--save", save,
                 "write weights, optimizer state and the step count here at the end (default: "
                 "the --resume file; with --data, <config>.<data>.safetensors)");
  app.add_option("--resume", resume, "continue from a file written by --save");
  app.add_option("--log-every", log_every, "print every N-th step")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--passes", passes,
                 "passes before autodiff: default (canonicalize and fuse), none, or a list")
      ->capture_default_str();
  addPrecisionFlag(app, precision);
  app.add_option("--task-vocab", task_vocab,
                 "draw the task's tokens from the first N ids only (default: 24, or the "
                 "vocabulary when it is smaller)")
      ->check(positive());
  corpus.spec.data.clear();
  corpus.add(app, "train on a corpus instead of a synthetic task: ding-en-de (Ding's example "
                  "sentences) or a TSV file of source<TAB>target pairs");
  app.add_option("--tokenizer", tokenizer,
                 "with --data: a model from kiln tokenizer train (default: train one on the "
                 "training split, cached, and store it with the checkpoint)");
  app.add_option("--batch-tokens", batch_tokens,
                 "with --data: padded tokens a batch, at most (replaces --batch and the lengths)")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--max-length", max_length,
                 "with --data: training pairs longer than this in tokens are left out")
      ->check(positive())
      ->capture_default_str();
  app.add_option("--valid-every", valid_every,
                 "with --data: the validation loss every N steps (0: never)")
      ->check(nonNegative())
      ->capture_default_str();
  app.add_option("--valid-bleu", valid_bleu,
                 "with --data: at each validation, the BLEU of greedy translations of the first N "
                 "validation pairs (0: none)")
      ->check(nonNegative())
      ->capture_default_str();
  app.add_flag("--keep-best", keep_best,
               "with --data: also save the checkpoint of the best validation BLEU so far, as "
               "<save>.best.safetensors");
  app.add_option("--save-every", save_every, "with --data: a checkpoint every N steps (0: never)")
      ->check(nonNegative())
      ->capture_default_str();
  app.add_option(
      "--time-budget", time_budget,
      "with --data: stop cleanly after this long of training steps and validations (90s, "
      "15m, 1h30m); compiling and the last validation come on top");
  app.add_flag("--data-parallel", data_parallel,
               "one rank of mpirun -np N: each rank trains on its share of every step's batch and "
               "the gradients are summed over the ranks (needs kiln built with MPI)");
  app.add_option("--bucket-bytes", bucket_bytes,
                 "with --data-parallel: gradient bytes per all_reduce, about")
      ->check(positive())
      ->capture_default_str();
  app.add_flag("--no-overlap", no_overlap,
               "with --data-parallel: each all_reduce completes before the backward pass goes on");
  app.add_flag("--save-all-ranks", save_all_ranks,
               "with --data-parallel: ranks other than 0 save their checkpoints too, to "
               "<save>.rank<r> (to check that every rank holds the same weights)");
}

std::optional<int64_t> dataParallelBuckets(const TrainFlags &f) {
  return f.data_parallel ? std::optional(f.bucket_bytes) : std::nullopt;
}

std::string rankSavePath(const TrainFlags &f, const std::string &path) {
  if (f.rank == 0)
    return path;
  return f.save_all_ranks ? fmt::format("{}.rank{}", path, f.rank) : std::string();
}

bool groupStops(const TrainFlags &f, bool local) {
  if (f.ranks <= 1 || !f.backend.communicator)
    return local;
  return f.backend.communicator->allReduceSum(local ? 1.0 : 0.0) > 0;
}

OptimizerOptions optimizerOptions(const TrainFlags &f, int64_t d_model) {
  OptimizerOptions opt;
  opt.kind = parseOptimizerKind(f.optimizer);
  opt.lr = f.lr;
  opt.warmup = f.warmup;
  opt.d_model = d_model;
  opt.clip_norm = f.clip_norm;
  opt.weight_decay = f.weight_decay;
  opt.skip_nonfinite = f.skip_nonfinite;
  checkOptimizerOptions(opt);
  return opt;
}

std::vector<RunSetting> runSettings(const TrainFlags &f, const OptimizerOptions &opt) {
  std::vector<RunSetting> settings = {
      {"kiln.optimizer", "--optimizer", optimizerName(opt.kind)},
      {"kiln.optimizer.lr", "--lr", opt.lr ? fmt::format("{}", *opt.lr) : "schedule"},
      {"kiln.optimizer.warmup", "--warmup", opt.lr ? "none" : std::to_string(opt.warmup)},
      {"kiln.optimizer.weight_decay", "--weight-decay", fmt::format("{}", opt.weight_decay)},
      {"kiln.optimizer.clip_norm", "--clip-norm",
       opt.clip_norm ? fmt::format("{}", *opt.clip_norm) : "none"},
      {"kiln.train.seed", "--seed", std::to_string(f.seed)},
      {"kiln.train.dropout", "--dropout", fmt::format("{}", f.dropout)},
      {"kiln.train.precision", "--precision", f.precision},
      {"kiln.train.passes", "--passes", f.passes},
      {"kiln.train.ranks", "mpirun -np", std::to_string(f.ranks)}};
  if (f.corpus.spec.data.empty()) {
    settings.push_back({"kiln.train.batch", "--batch", std::to_string(f.batch)});
    settings.push_back({"kiln.train.src_len", "--src-len", std::to_string(f.src_len)});
    settings.push_back({"kiln.train.tgt_len", "--tgt-len", std::to_string(f.tgt_len)});
    settings.push_back({"kiln.train.task_vocab", "--task-vocab",
                        f.task_vocab ? std::to_string(*f.task_vocab) : "all"});
  } else {
    settings.push_back(
        {"kiln.train.batch_tokens", "--batch-tokens", std::to_string(f.batch_tokens)});
    settings.push_back({"kiln.train.max_length", "--max-length", std::to_string(f.max_length)});
  }
  return settings;
}

std::map<std::string, std::string> settingsMetadata(const std::vector<RunSetting> &settings) {
  std::map<std::string, std::string> meta;
  for (const RunSetting &s : settings)
    meta[s.key] = s.value;
  return meta;
}

void checkResume(const std::map<std::string, std::string> &meta, const std::string &path,
                 const std::vector<RunSetting> &settings, int64_t steps, bool steps_given) {
  Location at;
  at.file = path;
  // A file that describes itself but records no step holds weights alone, as kiln init writes.
  if (meta.count("kiln.format") && !meta.count("kiln.step"))
    throw Error(at, "the file holds weights without optimizer state or a step (kiln init writes "
                    "such files): --resume takes a file that kiln train wrote");
  for (const RunSetting &s : settings) {
    auto it = meta.find(s.key);
    // At a constant rate the warm-up does not matter; the rate is compared instead.
    bool unused = s.key == "kiln.optimizer.warmup" && s.value == "none";
    if (it == meta.end() || it->second == s.value || unused)
      continue;
    auto shown = [&](const std::string &v) {
      return v == "schedule" ? std::string("warm-up schedule") : v;
    };
    if (s.key == "kiln.train.ranks")
      throw Error(at, fmt::format("the checkpoint was trained by {} data-parallel ranks, this run "
                                  "has {}: the ranks draw dropout masks of their own, so only "
                                  "the same number goes on as it was trained (mpirun -np {}{})",
                                  it->second, s.value, it->second,
                                  it->second == "1" ? ", or no mpirun" : " ... --data-parallel"));
    if (s.key == "kiln.optimizer.lr" && s.value == "schedule")
      throw Error(at, fmt::format("the checkpoint was trained at a constant --lr {}, not the "
                                  "warm-up schedule: a resumed run goes on as it was trained; "
                                  "give --lr {} and no --warmup",
                                  it->second, it->second));
    throw Error(at, fmt::format("{}: {} does not match the checkpoint's {}: a resumed run goes "
                                "on as it was trained; give the same value",
                                s.flag, shown(s.value), shown(it->second)));
  }
  int64_t done = 0;
  if (auto it = meta.find("kiln.step"); it != meta.end()) {
    const std::string &text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), done);
    if (ec == std::errc() && end == text.data() + text.size() && steps <= done)
      throw Error(at, fmt::format("--steps {}{} is not beyond the checkpoint's step {}: nothing "
                                  "to train (--steps counts the resumed steps too: give --steps "
                                  "N with N > {})",
                                  steps, steps_given ? "" : " (the default)", done, done));
  }
}

std::string accuracyText(const StepReport &r) {
  if (!r.correct || r.tokens == 0)
    return {};
  return fmt::format("  acc {:.1f}%",
                     100.0 * static_cast<double>(*r.correct) / static_cast<double>(r.tokens));
}

std::string checkStep(const StepReport &r) {
  std::string loss = std::isnan(r.loss)   ? "NaN"
                     : std::isinf(r.loss) ? (r.loss > 0 ? "+inf" : "-inf")
                                          : fmt::format("{}", r.loss);
  if (r.skipped)
    return fmt::format("step {}: the loss ({}) or the gradients are not finite: the step is "
                       "skipped, no weight changed",
                       r.step, loss);
  if (!std::isfinite(r.loss))
    throw Error({}, fmt::format("step {}: the loss is {}: training stops and saves nothing (a "
                                "checkpoint on disk keeps its step); try a lower --lr, "
                                "--clip-norm, or --skip-nonfinite to skip such steps",
                                r.step, loss));
  return {};
}

SyntheticTask syntheticTask(const TransformerConfig &cfg, const std::string &kind,
                            const GraphOptions &shape) {
  SyntheticTask task;
  task.kind = SyntheticTask::parseKind(kind);
  task.vocab = cfg.vocab;
  task.pad = cfg.tokens.pad;
  task.eos = cfg.tokens.eos;
  task.first_token = std::max({cfg.tokens.pad, cfg.tokens.bos, cfg.tokens.eos, cfg.tokens.unk}) + 1;
  task.batch = shape.batch, task.src_len = shape.src_len, task.tgt_len = shape.tgt_len;
  return task;
}

namespace {

/// The number a checkpoint's metadata records under `key`.
template <typename T>
T recordedNumber(const std::string &text, const char *key, const std::string &path) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !(v > 0))
    throw Error(Location{path, 0, 0},
                fmt::format("the checkpoint's {} is '{}', not a positive number", key, text));
  return v;
}

/// The defaults of a synthetic task, which the tiny model learns with in a few hundred steps
/// (the paper's warm-up of 4000 steps and a draw from the whole vocabulary suit a corpus). A
/// resumed run takes the rate and the token range its checkpoint records instead.
TrainFlags withTaskDefaults(TrainFlags f, const TransformerConfig &cfg,
                            const std::map<std::string, std::string> &resumed) {
  constexpr int64_t kSteps = 300, kTokens = 24;
  constexpr double kRate = 1e-3;
  if (!f.steps_given)
    f.steps = kSteps;
  auto recorded = [&](const char *key) -> std::optional<std::string> {
    auto it = resumed.find(key);
    return it == resumed.end() ? std::nullopt : std::optional(it->second);
  };
  if (!f.lr && !f.warmup_given) {
    std::optional<std::string> lr = recorded("kiln.optimizer.lr");
    if (!lr)
      f.lr = kRate;
    else if (*lr != "schedule")
      f.lr = recordedNumber<double>(*lr, "kiln.optimizer.lr", f.resume);
  }
  if (!f.task_vocab) {
    std::optional<std::string> tokens = recorded("kiln.train.task_vocab");
    if (!tokens)
      f.task_vocab = std::min(kTokens, cfg.vocab);
    else if (*tokens != "all")
      f.task_vocab = recordedNumber<int64_t>(*tokens, "kiln.train.task_vocab", f.resume);
  }
  return f;
}

} // namespace

namespace {

int trainOnTask(const TrainFlags &flags);

} // namespace

int runTrain(const TrainFlags &flags) {
  if (!flags.data_parallel) {
    TrainFlags corpus_defaults;
    if (flags.bucket_bytes != corpus_defaults.bucket_bytes || flags.no_overlap ||
        flags.save_all_ranks)
      throw Error({}, "--bucket-bytes, --no-overlap and --save-all-ranks need --data-parallel");
    return flags.corpus.spec.data.empty() ? trainOnTask(flags) : runCorpusTraining(flags);
  }
  if (flags.backend.backend != "cpu")
    throw Error({}, fmt::format("--data-parallel runs on the cpu backend, which executes "
                                "all_reduce; --backend {} cannot",
                                flags.backend.backend));
  std::unique_ptr<Communicator> group = joinDataParallelGroup();
  TrainFlags f = flags;
  f.rank = group->rank();
  f.ranks = group->size();
  f.backend.communicator = group.get();
  f.backend.overlap_all_reduce = !flags.no_overlap;
  return runAsRank(
      *group, [&] { return f.corpus.spec.data.empty() ? trainOnTask(f) : runCorpusTraining(f); });
}

namespace {

int trainOnTask(const TrainFlags &flags) {
  TrainFlags corpus_defaults;
  std::vector<std::string> given; // the flags of corpus training on a synthetic task
  auto check = [&](bool set, const char *flag) {
    if (set)
      given.push_back(flag);
  };
  check(!flags.corpus.spec.valid.empty(), "--valid");
  check(flags.corpus.spec.split.reverse, "--reverse");
  check(!flags.tokenizer.empty(), "--tokenizer");
  check(!flags.time_budget.empty(), "--time-budget");
  check(flags.save_every != corpus_defaults.save_every, "--save-every");
  check(flags.valid_every != corpus_defaults.valid_every, "--valid-every");
  check(flags.valid_bleu != corpus_defaults.valid_bleu, "--valid-bleu");
  check(flags.keep_best, "--keep-best");
  check(flags.batch_tokens != corpus_defaults.batch_tokens, "--batch-tokens");
  check(flags.max_length != corpus_defaults.max_length, "--max-length");
  if (!given.empty())
    throw Error({}, fmt::format("{} {} --data: a synthetic task has no corpus",
                                fmt::join(given, ", "), given.size() == 1 ? "needs" : "need"));
  // A resumed run takes its model from the checkpoint and must go beyond its step.
  std::map<std::string, std::string> resumed;
  if (!flags.resume.empty())
    resumed = readSafetensorsMetadata(flags.resume);
  TransformerConfig cfg = flags.model.resolveFor(resumed, flags.resume);
  const TrainFlags f = withTaskDefaults(flags, cfg, resumed);
  OptimizerOptions opt = optimizerOptions(f, cfg.d_model);
  if (!f.resume.empty()) {
    if (auto data = resumed.find("kiln.data"); data != resumed.end())
      throw Error(Location{f.resume, 0, 0},
                  fmt::format("the checkpoint was trained on the corpus {}: resume it with --data "
                              "{}",
                              data->second, data->second));
    if (auto task = resumed.find("kiln.task"); task != resumed.end() && task->second != f.task)
      throw Error(
          Location{f.resume, 0, 0},
          fmt::format("the checkpoint was trained on the {} task, not {}", task->second, f.task));
    checkResume(resumed, f.resume, runSettings(f, opt), f.steps, f.steps_given);
  }
  GraphOptions shape{
      .batch = f.batch, .src_len = f.src_len, .tgt_len = f.tgt_len, .dropout = f.dropout};
  // Each rank's program runs its share of the batch's rows; the task makes whole batches.
  GraphOptions share = shape;
  share.batch = shareRows(f.batch, f.rank, f.ranks);
  BuiltModel m =
      buildTrainStep(cfg, share, opt, withPrecision(f.passes, f.precision), dataParallelBuckets(f));

  SyntheticTask task = syntheticTask(cfg, f.task, shape);
  if (f.task_vocab) {
    if (*f.task_vocab > cfg.vocab)
      throw Error({}, fmt::format("--task-vocab {} is larger than the vocabulary of {}",
                                  *f.task_vocab, cfg.vocab));
    task.vocab = *f.task_vocab;
  }
  task.batchAt(1); // a task that cannot make batches fails here, before the compile
  f.backend.get(); // so does a backend this machine cannot run (no GPU driver)
  TrainerState state;
  if (!f.resume.empty()) {
    state = loadTrainerState(f.resume, signatureOf(*m.graph));
    std::cout << fmt::format("resumed from {} at step {}\n", f.resume, state.step);
  } else {
    state.tensors = initialParameters(m.params, f.seed);
  }
  if (f.ranks > 1)
    std::cout << fmt::format("data-parallel over {} ranks ({}): rank 0 trains on {} of each "
                             "batch's {} rows, the others on their shares\n",
                             f.ranks, f.backend.communicator->transport(), share.batch, f.batch);
  std::cout << fmt::format(
      "training {} ({} parameters) on the {} task: {} steps, batch {}, backend {}\n", cfg.name,
      [&] {
        int64_t n = 0;
        for (const ParamSpec &p : m.params)
          n += p.type.numElements();
        return n;
      }(),
      f.task, f.steps, f.batch, f.backend.backend);
  std::cout << fmt::format("compiling the training step ({} nodes) for {}...\n",
                           m.graph->nodes().size(), f.backend.backend)
            << std::flush;
  auto compile_start = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> program = f.backend.get().compile(*m.graph, f.backend.options());
  double compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();

  bool cached = false;
  for (const auto &[name, value] : program->statistics())
    cached |= name.find("from") != std::string::npos && name.find("cache") != std::string::npos &&
              value > 0;
  std::cout << fmt::format("compiled in {:.2f} s{}\n", compile_seconds,
                           cached ? " (code from the kernel cache)" : "");
  Trainer trainer(*program, task, f.seed);
  trainer.joinGroup(f.rank, f.ranks);
  trainer.initState(state);

  auto start = std::chrono::steady_clock::now();
  auto last = start;
  int64_t tokens = 0;
  StopSignals stop;
  // The ranks agree before each step whether to stop, so that they stop together.
  while (state.step < f.steps && !groupStops(f, stop.requested())) {
    StepReport r = trainer.step(state);
    if (std::string note = checkStep(r); !note.empty())
      std::cout << note << "\n";
    tokens += r.tokens;
    if (r.step % f.log_every == 0 || r.step == f.steps) {
      auto now = std::chrono::steady_clock::now();
      double seconds = std::chrono::duration<double>(now - start).count();
      double window = std::chrono::duration<double>(now - last).count();
      std::cout << fmt::format("step {:>5}  loss {:.6f}{}  lr {:.3e}  ({:.0f} tok/s, {:.1f} s)\n",
                               r.step, r.loss, accuracyText(r), r.lr,
                               window > 0 ? static_cast<double>(tokens) / window : 0.0, seconds)
                << std::flush;
      last = now;
      tokens = 0;
    }
  }
  if (stop.requested())
    std::cout << fmt::format("{} at step {}: stopping\n", stop.name(), state.step);
  else if (state.step < f.steps)
    std::cout << fmt::format("another rank stops the run at step {} (a signal): stopping\n",
                             state.step);
  // A resumed run goes on in its checkpoint unless --save names another file.
  std::string save = f.save.empty() ? f.resume : f.save;
  if (!save.empty() && !rankSavePath(f, save).empty()) {
    std::map<std::string, std::string> metadata = configMetadata(cfg);
    metadata.merge(settingsMetadata(runSettings(f, opt)));
    metadata["kiln.task"] = f.task;
    saveTrainerState(rankSavePath(f, save), state, metadata);
    std::cout << fmt::format("saved {} tensors and step {} to {}\n", state.tensors.size(),
                             state.step, save);
  }
  return stop.exitStatus();
}

} // namespace

} // namespace kiln::tools
