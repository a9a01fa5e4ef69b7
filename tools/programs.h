#pragma once
// The programs kiln builds from a Transformer configuration: the loss with its gradients, and
// the whole training step (forward, backward and the optimizer's update) as one graph.

#include "frontend/transformer.h"
#include "passes/optimizer.h"

namespace kiln::tools {

/// The loss graph with grad.<param> outputs for every parameter.
BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts);

/// The training step: inputs src, tgt, step (and seed with dropout), parameters and optimizer
/// state; outputs loss, the next parameters and state (named like their inputs) and lr.
BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts, const OptimizerOptions &optimizer);

} // namespace kiln::tools
