#pragma once
// The training driver: feeds batches to a compiled training step, carries parameters and
// optimizer state from step to step, and saves and resumes runs bit for bit.

#include "runtime/checkpoint.h"
#include "runtime/tasks.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace kiln {

/// A compiled training step, seen through its interface: inputs and outputs by name.
/// Inputs: src, tgt, step (i64, from 1), optionally seed (i64), and parameters and state.
/// Outputs: loss, lr, and the next value of every parameter and state input (same name).
struct StepProgram {
  std::vector<TensorDecl> inputs;
  std::vector<std::string> outputs;
  std::function<std::vector<Literal>(const std::vector<Literal> &)> run;
};

/// Parameters and optimizer state by name, and the number of steps done.
struct TrainerState {
  std::map<std::string, Literal> tensors;
  int64_t step = 0;
};

/// What one step reports.
struct StepReport {
  int64_t step;
  double loss;
  double lr;
};

/// Runs training steps of a program on a task.
class Trainer {
public:
  Trainer(StepProgram program, SyntheticTask task, uint64_t seed);
  /// Fills in zeros for optimizer state the state does not hold yet (a fresh run).
  void initState(TrainerState &state) const;
  /// Runs the next step and updates the state.
  StepReport step(TrainerState &state) const;

private:
  StepProgram program_;
  SyntheticTask task_;
  uint64_t seed_;
};

/// Saves parameters, optimizer state and the step count atomically.
void saveTrainerState(const std::string &path, const TrainerState &state,
                      std::map<std::string, std::string> metadata = {});
/// Loads what saveTrainerState wrote, checking every tensor against the program's inputs.
TrainerState loadTrainerState(const std::string &path, const StepProgram &program);

} // namespace kiln
