#include "compiler/programs.h"

#include "passes/autodiff.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"

#include <sstream>

namespace kiln {

namespace {

/// The stages of the train pipeline after the forward passes.
enum class Program { Loss, Gradients, TrainStep };

bool isForwardPass(const std::string &name) {
  return name != "autodiff" && name != "optimizer" && name != "cse" && name != "dce" &&
         name != "fuse-elementwise";
}

/// Runs the train pipeline up to `program`, with the forward passes chosen by `spec`.
void runPipeline(Graph &g, const std::string &spec, Program program,
                 const OptimizerOptions *optimizer = nullptr) {
  PassManager pm;
  for (const std::string &name : forwardPasses(spec)) {
    const PassInfo *info = lookupPass(name);
    if (!info)
      throw Error({}, fmt::format("unknown pass '{}'; known passes: {}", name, passNames()));
    pm.addPass(info->create({}));
  }
  for (const std::string &name : pipelinePasses("train")) {
    if (isForwardPass(name))
      continue;
    if (name == "autodiff" && program != Program::Loss)
      pm.addPass(createAutodiffPass(AutodiffOptions{"loss", {}}));
    else if (name == "optimizer" && program == Program::TrainStep)
      pm.addPass(createOptimizerPass(*optimizer));
    else if (name == "cse" || name == "dce" || name == "fuse-elementwise")
      pm.addPass(lookupPass(name)->create({}));
  }
  std::ostringstream unused;
  pm.run(g, unused);
}

} // namespace

std::vector<std::string> forwardPasses(const std::string &spec) {
  if (spec == "none")
    return {};
  if (spec != "default")
    return splitList(spec);
  std::vector<std::string> passes = pipelinePasses("train");
  std::erase_if(passes, [](const std::string &p) { return !isForwardPass(p); });
  return passes;
}

BuiltModel buildLoss(const TransformerConfig &cfg, const GraphOptions &opts,
                     const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  runPipeline(*m.graph, passes, Program::Loss);
  return m;
}

BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts,
                          const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  runPipeline(*m.graph, passes, Program::Gradients);
  return m;
}

BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts,
                          const OptimizerOptions &optimizer, const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  // The step returns the loss and the updates; logits are not needed.
  std::erase_if(m.graph->outputs(), [](const GraphOutput &o) { return o.name == "logits"; });
  runPipeline(*m.graph, passes, Program::TrainStep, &optimizer);
  return m;
}

} // namespace kiln
