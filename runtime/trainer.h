#pragma once
// The training driver: feeds batches to a compiled training step, carries parameters and
// optimizer state from step to step, and saves and resumes runs bit for bit.

#include "runtime/checkpoint.h"
#include "runtime/executable.h"
#include "runtime/tasks.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// Parameters and optimizer state by name, and the number of steps done.
struct TrainerState {
  Bindings tensors;
  int64_t step = 0;
};

/// What one step reports.
struct StepReport {
  int64_t step;
  double loss;
  double lr;
  int64_t tokens; ///< target tokens of the batch, PAD excluded
  /// Of those, the ones whose logit is the largest of their row (when the program reports it).
  std::optional<int64_t> correct;
  /// The step's loss or gradients were not finite and the program (built to skip such steps)
  /// left the parameters and state as they were.
  bool skipped = false;
};

/// Runs compiled training steps on a stream of batches. A step program takes src, tgt, step
/// (i64, from 1), optionally seed (a Philox key, i32[2]), and parameters and state; it returns
/// loss, lr, and the next value of every parameter and state input, which updates that input in
/// place. Batches of different shapes run on programs of their own, which share the parameters
/// and state.
class Trainer {
public:
  /// The batch of a step (from 1).
  using Batches = std::function<Batch(int64_t step)>;
  /// The program that runs a batch of this shape.
  using Programs = std::function<Executable &(const Batch &batch)>;

  Trainer(Programs programs, Batches batches, int64_t pad, uint64_t seed);
  /// One program on a synthetic task.
  Trainer(Executable &program, SyntheticTask task, uint64_t seed);
  /// Fills in zeros for optimizer state the state does not hold yet (a fresh run).
  void initState(TrainerState &state) const;
  /// Runs the next step and updates the state.
  StepReport step(TrainerState &state) const;
  /// Makes this trainer rank `rank` of a data-parallel group of `ranks`: each step runs the
  /// rank's share of the step's batch (batchShare) with dropout masks of its own. A program
  /// that outputs dp.tokens (the data-parallel pass) reports the group's tokens.
  void joinGroup(int rank, int ranks);

private:
  Programs programs_;
  Batches batches_;
  int64_t pad_ = 0;
  uint64_t seed_;
  int rank_ = 0, ranks_ = 1;
};

/// The parameters and state a training step program carries (its non-data inputs).
std::vector<TensorDecl> carriedTensors(const Signature &signature);
/// Saves parameters, optimizer state and the step count atomically. A tensor holding a NaN or an
/// infinity is an Error and nothing is written: a run that diverged never replaces a good
/// checkpoint.
void saveTrainerState(const std::string &path, const TrainerState &state,
                      std::map<std::string, std::string> metadata = {});
/// Loads what saveTrainerState wrote, checking every tensor against the program's inputs.
TrainerState loadTrainerState(const std::string &path, const Signature &signature);

} // namespace kiln
