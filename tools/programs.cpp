#include "tools/programs.h"

#include "passes/autodiff.h"

namespace kiln::tools {

BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  differentiate(*m.graph, AutodiffOptions{"loss", {}});
  return m;
}

BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts, const OptimizerOptions &optimizer) {
  BuiltModel m = buildGradients(cfg, opts);
  // The step returns the loss and the updates; logits are not needed.
  std::erase_if(m.graph->outputs(), [](const GraphOutput &o) { return o.name == "logits"; });
  appendOptimizer(*m.graph, optimizer);
  return m;
}

} // namespace kiln::tools
