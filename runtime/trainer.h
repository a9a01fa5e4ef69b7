#pragma once
// The training driver: feeds batches to a compiled training step, carries parameters and
// optimizer state from step to step, and saves and resumes runs bit for bit.

#include "runtime/checkpoint.h"
#include "runtime/executable.h"
#include "runtime/tasks.h"

#include <map>
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
};

/// Runs a compiled training step on a task. The step takes src, tgt, step (i64, from 1),
/// optionally seed (a Philox key, i32[2]), and parameters and state; it returns loss, lr, and the
/// next value of every parameter and state input, which updates that input in place.
class Trainer {
public:
  Trainer(Executable &program, SyntheticTask task, uint64_t seed);
  /// Fills in zeros for optimizer state the state does not hold yet (a fresh run).
  void initState(TrainerState &state) const;
  /// Runs the next step and updates the state.
  StepReport step(TrainerState &state) const;

private:
  Executable &program_;
  SyntheticTask task_;
  uint64_t seed_;
};

/// The parameters and state a training step program carries (its non-data inputs).
std::vector<TensorDecl> carriedTensors(const Signature &signature);
/// Saves parameters, optimizer state and the step count atomically.
void saveTrainerState(const std::string &path, const TrainerState &state,
                      std::map<std::string, std::string> metadata = {});
/// Loads what saveTrainerState wrote, checking every tensor against the program's inputs.
TrainerState loadTrainerState(const std::string &path, const Signature &signature);

} // namespace kiln
