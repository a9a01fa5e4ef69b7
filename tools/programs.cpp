#include "tools/programs.h"

#include "passes/autodiff.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"

#include <sstream>

namespace kiln::tools {

std::vector<std::string> forwardPasses(const std::string &spec) {
  if (spec == "none")
    return {};
  if (spec != "default")
    return splitList(spec);
  // The inference pipeline without its clean-up, which runs once at the end.
  std::vector<std::string> passes = pipelinePasses("infer");
  std::erase_if(passes, [](const std::string &p) { return p == "cse" || p == "dce"; });
  return passes;
}

namespace {

void runPasses(Graph &g, const std::vector<std::string> &names) {
  PassManager pm;
  for (const std::string &name : names) {
    const PassInfo *info = lookupPass(name);
    if (!info)
      throw Error({}, fmt::format("unknown pass '{}'; known passes: {}", name, passNames()));
    pm.addPass(info->create({}));
  }
  std::ostringstream unused;
  pm.run(g, unused);
}

} // namespace

BuiltModel buildLoss(const TransformerConfig &cfg, const GraphOptions &opts,
                     const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  runPasses(*m.graph, forwardPasses(passes));
  runPasses(*m.graph, {"cse", "dce"});
  return m;
}

BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts,
                          const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  runPasses(*m.graph, forwardPasses(passes));
  differentiate(*m.graph, AutodiffOptions{"loss", {}});
  runPasses(*m.graph, {"cse", "dce"});
  return m;
}

BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts,
                          const OptimizerOptions &optimizer, const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  // The step returns the loss and the updates; logits are not needed.
  std::erase_if(m.graph->outputs(), [](const GraphOutput &o) { return o.name == "logits"; });
  runPasses(*m.graph, forwardPasses(passes));
  differentiate(*m.graph, AutodiffOptions{"loss", {}});
  appendOptimizer(*m.graph, optimizer);
  runPasses(*m.graph, {"cse", "dce"});
  return m;
}

} // namespace kiln::tools
