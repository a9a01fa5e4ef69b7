#pragma once
// The optimizer as part of the graph: the parameter update, the learning-rate schedule and
// gradient clipping are appended as nodes, so one graph is a whole training step.
//
// Naming: an output named like a parameter or state input is that input's next value, so a
// memory planner can update it in place and a driver can feed it back.

#include "ir/graph.h"
#include "passes/pass.h"

#include <optional>

namespace kiln {

/// The update rule.
enum class OptimizerKind { Sgd, Adam, AdamW };

/// Hyper-parameters of the update; defaults are those of "Attention Is All You Need".
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Adam;
  std::optional<double> lr; ///< a constant rate; unset: the warm-up schedule below
  int64_t warmup = 4000;    ///< lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)
  int64_t d_model = 512;
  double beta1 = 0.9, beta2 = 0.98, eps = 1e-9;
  double momentum = 0.9;
  double weight_decay = 0.0;       ///< L2 for sgd and adam; decoupled for adamw
  std::optional<double> clip_norm; ///< clip gradients to this global norm
  /// A step whose loss or gradients are not finite leaves parameters and state as they were;
  /// an output "skipped" (bool) says whether it did.
  bool skip_nonfinite = false;
};

/// Refuses hyper-parameters that make no sense with an Error naming the option as the flags of
/// kiln and kiln-opt spell it, and its value: a learning rate, epsilon or clipping norm that is
/// not positive and finite, betas or momentum outside [0, 1), a weight decay that is negative or
/// not finite, a warm-up or d_model below 1.
void checkOptimizerOptions(const OptimizerOptions &opts);

/// Parses "sgd", "adam" or "adamw"; throws Error otherwise.
OptimizerKind parseOptimizerKind(const std::string &name);
/// "sgd", "adam" or "adamw".
std::string optimizerName(OptimizerKind kind);

/// Appends the update of every parameter P that has an output grad.P: a data input "step"
/// (i64 scalar, counting from 1), state inputs "adam.m.P" and "adam.v.P" (or
/// "sgd.momentum.P"), and outputs P, the new state, and "lr". The grad.P outputs are removed.
/// Returns the number of parameters updated.
int appendOptimizer(Graph &g, const OptimizerOptions &opts);

/// The names of the optimizer state of one parameter, in order.
std::vector<std::string> optimizerStateNames(OptimizerKind kind, const std::string &param);

/// The optimizer pass with typed options (the pass list's factory parses them from flags).
std::unique_ptr<Pass> createOptimizerPass(const OptimizerOptions &opts);

} // namespace kiln
