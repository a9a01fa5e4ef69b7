#include "compiler/programs.h"

#include "ir/builder.h"
#include "passes/autodiff.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace kiln {

namespace {

/// The stages of the train pipeline after the forward passes.
enum class Program { Loss, Gradients, TrainStep };

/// The train pipeline's passes before autodiff (forward: true) or from autodiff on (false).
std::vector<std::string> trainPasses(bool forward) {
  std::vector<std::string> all = pipelinePasses("train");
  auto autodiff = std::find(all.begin(), all.end(), "autodiff");
  return forward ? std::vector<std::string>(all.begin(), autodiff)
                 : std::vector<std::string>(autodiff, all.end());
}

/// Runs the train pipeline up to `program`, with the forward passes chosen by `spec`, and the
/// data-parallel pass before the optimizer when `data_parallel_bucket_bytes` is set; returns
/// what the forward passes fused.
FusionStatistics runPipeline(Graph &g, const std::string &spec, Program program,
                             const OptimizerOptions *optimizer = nullptr,
                             std::optional<int64_t> data_parallel_bucket_bytes = std::nullopt) {
  PassManager forward;
  for (const std::string &name : forwardPasses(spec)) {
    const PassInfo *info = lookupPass(name);
    if (!info)
      throw Error({}, fmt::format("unknown pass '{}'; known passes: {}", name, passNames()));
    forward.addPass(info->create({}));
  }
  std::ostringstream unused;
  FusionStatistics before = countFusedOps(g);
  forward.run(g, unused);
  // Counted before autodiff: its backward ops are not fusions, and a later cse or dce does not
  // change what fusion found.
  FusionStatistics fused = countFusedOps(g) - before;
  PassManager pm;
  for (const std::string &name : trainPasses(false)) {
    if (name == "autodiff" && program != Program::Loss)
      pm.addPass(createAutodiffPass(AutodiffOptions{"loss", {}}));
    else if (name == "optimizer" && program == Program::TrainStep) {
      if (data_parallel_bucket_bytes)
        pm.addPass(createDataParallelPass(*data_parallel_bucket_bytes));
      pm.addPass(createOptimizerPass(*optimizer));
    } else if (name == "schedule-updates" && program == Program::TrainStep)
      pm.addPass(lookupPass(name)->create({}));
    else if (name == "cse" || name == "dce" || name == "fuse-elementwise")
      pm.addPass(lookupPass(name)->create({}));
  }
  pm.run(g, unused);
  return fused;
}

/// A stage of the model after the forward passes and the clean-up after them.
BuiltModel forwardProgram(const TransformerConfig &cfg, Stage stage, const GraphOptions &opts,
                          const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, stage, opts);
  runPipeline(*m.graph, passes, Program::Loss);
  return m;
}

} // namespace

std::vector<std::string> forwardPasses(const std::string &spec) {
  std::vector<std::string> passes;
  for (const std::string &name : splitList(spec)) {
    if (name == "default") {
      for (const std::string &p : trainPasses(true))
        passes.push_back(p);
    } else if (name != "none") {
      passes.push_back(name);
    }
  }
  return passes;
}

std::string withPrecision(const std::string &passes, const std::string &precision) {
  std::string out = passes;
  for (const std::string &p : precisionPasses(precision))
    out += "," + p;
  return out;
}

BuiltModel buildLoss(const TransformerConfig &cfg, const GraphOptions &opts,
                     const std::string &passes) {
  return forwardProgram(cfg, Stage::Loss, opts, passes);
}

BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts,
                          const std::string &passes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  runPipeline(*m.graph, passes, Program::Gradients);
  return m;
}

BuiltModel buildEncoder(const TransformerConfig &cfg, const GraphOptions &opts,
                        const std::string &passes) {
  return forwardProgram(cfg, Stage::Encoder, opts, passes);
}

BuiltModel buildDecodeStep(const TransformerConfig &cfg, const GraphOptions &opts,
                           const std::string &passes) {
  return forwardProgram(cfg, Stage::DecodeStep, opts, passes);
}

namespace {

/// Appends output "correct" (f32[]): how many targets other than PAD have the largest logit of
/// their row, so a step reports its token accuracy (a target tied for the largest counts: at
/// random initialisation ties are rare, and a trained model's are rarer). The maximum keeps no
/// axis, so that cse does not merge it with the loss's log-softmax, whose fusion it would block.
void addCorrectTokens(Graph &g, int64_t pad) {
  KILN_ASSERT(g.findOutput("logits") && g.findInput(InputRole::Target),
              "the loss graph has logits and a target");
  const GraphOutput &out = *g.findOutput("logits");
  Value *logits = out.value, *tgt = g.findInput(InputRole::Target)->value.get();
  Builder b(g, out.loc);
  Value *label =
      b.create(op::Gather, {logits, tgt}, {{"axis", int64_t{2}}, {"batch_dims", int64_t{2}}});
  Value *best = b.create(op::ReduceMax, {logits}, {{"axes", IntList{-1}}, {"keepdims", false}});
  Value *counted = b.create(op::Ne, {tgt, b.splat(static_cast<double>(pad), tgt->type.dtype)});
  Value *hit = b.create(op::And, {b.create(op::Ge, {label, best}), counted});
  Value *sum = b.create(op::ReduceSum, {b.create(op::Cast, {hit}, {{"dtype", DType::f32}})},
                        {{"axes", IntList{0, 1}}, {"keepdims", false}});
  g.addOutput("correct", sum, out.loc);
}

} // namespace

BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts,
                          const OptimizerOptions &optimizer, const std::string &passes,
                          std::optional<int64_t> data_parallel_bucket_bytes) {
  BuiltModel m = buildTransformer(cfg, Stage::Loss, opts);
  addCorrectTokens(*m.graph, cfg.tokens.pad);
  // The step returns the loss, the correct tokens and the updates; logits are not needed.
  m.graph->eraseOutputs([](const GraphOutput &o) { return o.name == "logits"; });
  makeTrainStep(*m.graph, optimizer, passes, data_parallel_bucket_bytes);
  return m;
}

FusionStatistics makeTrainStep(Graph &graph, const OptimizerOptions &optimizer,
                               const std::string &passes,
                               std::optional<int64_t> data_parallel_bucket_bytes) {
  return runPipeline(graph, passes, Program::TrainStep, &optimizer, data_parallel_bucket_bytes);
}

const std::vector<std::string> &stageNames() {
  static const std::vector<std::string> names = {"forward", "loss",    "fused",
                                                 "train",   "encoder", "decode-step"};
  return names;
}

BuiltModel buildStage(const TransformerConfig &cfg, const std::string &stage,
                      const GraphOptions &opts, const std::string &passes) {
  if (stage == "train") {
    OptimizerOptions optimizer;
    optimizer.d_model = cfg.d_model;
    return buildTrainStep(cfg, opts, optimizer, passes);
  }
  if (stage == "fused")
    return buildLoss(cfg, opts, passes);
  if (stage == "encoder")
    return buildEncoder(cfg, opts, passes);
  if (stage == "decode-step")
    return buildDecodeStep(cfg, opts, passes);
  if (stage == "forward" || stage == "loss")
    return buildTransformer(cfg, stage == "forward" ? Stage::Forward : Stage::Loss, opts);
  throw Error({}, fmt::format("unknown stage '{}'; known stages: {}", stage,
                              fmt::join(stageNames(), ", ")));
}

} // namespace kiln
