#pragma once
// `kiln train`: trains a Transformer on a built-in synthetic task, or on a corpus (--data).

#include "passes/optimizer.h"
#include "runtime/tasks.h"
#include "runtime/trainer.h"
#include "tools/backend_flags.h"
#include "tools/data_command.h"
#include "tools/model_options.h"

#include <CLI/CLI.hpp>

namespace kiln::tools {

/// The flags of kiln train.
struct TrainFlags {
  ModelFlags model;
  BackendFlags backend;
  std::string task = "copy";
  int64_t steps = 100;
  bool steps_given = false; ///< --steps on the command line (set when parsed)
  uint64_t seed = 0;
  int64_t batch = 16, src_len = 10, tgt_len = 10;
  double dropout = 0.1;
  std::string optimizer = "adam";
  std::optional<double> lr;
  int64_t warmup = 4000;
  bool warmup_given = false; ///< --warmup on the command line (set when parsed)
  std::optional<double> clip_norm;
  double weight_decay = 0;
  bool skip_nonfinite = false; ///< skip steps whose loss or gradients are not finite
  std::string save, resume;
  int64_t log_every = 1;
  std::optional<int64_t> task_vocab;
  std::string passes = "default";
  std::string precision = "f32";
  // The corpus path (with --data).
  CorpusFlags corpus;
  std::string tokenizer;
  int64_t batch_tokens = 4096, max_length = 64;
  int64_t valid_every = 500, save_every = 0;
  int64_t valid_bleu = 500; ///< validation pairs translated (greedy) for BLEU at each validation
  bool keep_best = false;   ///< also save the checkpoint of the best validation BLEU
  std::string time_budget;
  // Data parallelism (mpirun -np N kiln train ... --data-parallel).
  bool data_parallel = false;
  int64_t bucket_bytes = int64_t{4} << 20; ///< gradient bytes per all_reduce
  bool no_overlap = false;                 ///< each all_reduce completes at its own step
  bool save_all_ranks = false;             ///< ranks r > 0 save to <save>.rank<r> too (tests)
  int rank = 0, ranks = 1;                 ///< this process's place in the group (set at run)

  /// Registers the flags on the subcommand.
  void add(CLI::App &app);
};

/// The synthetic task ("copy" or "reverse") of a configuration's tokens, at these sizes.
SyntheticTask syntheticTask(const TransformerConfig &cfg, const std::string &kind,
                            const GraphOptions &shape);

/// The optimizer the flags ask for, for a model of width d_model.
OptimizerOptions optimizerOptions(const TrainFlags &flags, int64_t d_model);

/// A setting of a training run that a checkpoint records and a resumed run must keep: its
/// metadata key, its flag, and its value as text.
struct RunSetting {
  std::string key, flag, value;
};
/// The run's settings: the optimizer and its hyper-parameters (kiln.optimizer, ...), the seed,
/// dropout, precision and passes, and the batches' sizes (kiln.train.*).
std::vector<RunSetting> runSettings(const TrainFlags &flags, const OptimizerOptions &opt);
/// The settings as checkpoint metadata.
std::map<std::string, std::string> settingsMetadata(const std::vector<RunSetting> &settings);
/// Refuses to resume the checkpoint at `path` (metadata `meta`) with a setting other than the
/// one it records, naming the flag and both values, or with a last step `steps` that is not
/// beyond the checkpoint's (`steps_given`: whether --steps was on the command line).
void checkResume(const std::map<std::string, std::string> &meta, const std::string &path,
                 const std::vector<RunSetting> &settings, int64_t steps, bool steps_given);

/// Stops a run, with an Error naming the step, when a step's loss is not finite and the step was
/// not skipped; such a run saves nothing. Returns the note to print for a skipped step, or "".
std::string checkStep(const StepReport &report);
/// "  acc 91.2%": the share of the step's target tokens whose logit was the largest, or "" when
/// the program does not report it.
std::string accuracyText(const StepReport &report);

/// Runs the training; prints one line per logged step.
int runTrain(const TrainFlags &flags);

/// Runs the training on --data (train_corpus.cpp).
int runCorpusTraining(const TrainFlags &flags);

/// The bucket size of the data-parallel pass under --data-parallel, or nullopt without it.
std::optional<int64_t> dataParallelBuckets(const TrainFlags &flags);
/// Where this rank saves a checkpoint that rank 0 saves to `path`, or "" when it saves none.
std::string rankSavePath(const TrainFlags &flags, const std::string &path);
/// Whether the run stops now: with --data-parallel, true on every rank when any rank's `local`
/// is (one reduction, so that the ranks stop at the same step and none waits in an all_reduce the
/// others never join); without it, `local`. Every rank must call it at the same points.
bool groupStops(const TrainFlags &flags, bool local);

} // namespace kiln::tools
