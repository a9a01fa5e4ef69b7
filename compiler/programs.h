#pragma once
// The programs kiln builds from a Transformer configuration: the loss (fused or not), the loss
// with its gradients, the whole training step (forward, backward and the optimizer's update)
// as one graph, and decoding's encoder and decode-step programs. Each is the recorded graph run
// through one PassManager pipeline: the train pipeline of passes/pipelines.cpp, or a prefix of it.

#include "compiler/fusion_statistics.h"
#include "frontend/transformer.h"
#include "passes/optimizer.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// The passes run on the forward graph before autodiff: a comma-separated list of pass names,
/// where "default" stands for the train pipeline's passes before autodiff (canonicalize, cse
/// and the fusions) and "none" for nothing.
std::vector<std::string> forwardPasses(const std::string &spec);

/// The forward passes for a --precision: `passes` for f32; for bf16, `passes` then
/// mixed-precision (matmuls and attention in bf16, the rest and the master weights in f32).
/// Throws Error for another precision.
std::string withPrecision(const std::string &passes, const std::string &precision);

/// The loss graph (outputs loss and logits) after the forward passes, then cse, dce and
/// fuse-elementwise.
BuiltModel buildLoss(const TransformerConfig &cfg, const GraphOptions &opts,
                     const std::string &passes = "default");

/// The loss graph with grad.<param> outputs for every parameter.
BuiltModel buildGradients(const TransformerConfig &cfg, const GraphOptions &opts,
                          const std::string &passes = "default");

/// Decoding's encoder program (Stage::Encoder) after the forward passes, then cse, dce and
/// fuse-elementwise.
BuiltModel buildEncoder(const TransformerConfig &cfg, const GraphOptions &opts,
                        const std::string &passes = "default");

/// Decoding's step program with a KV cache of opts.tgt_len positions (Stage::DecodeStep), after
/// the same passes.
BuiltModel buildDecodeStep(const TransformerConfig &cfg, const GraphOptions &opts,
                           const std::string &passes = "default");

/// Turns a graph with a scalar output "loss" into a training step, as buildTrainStep does for
/// the Transformer: the forward passes of `passes` ("default": canonicalize, cse, the fusions),
/// autodiff of the loss, the optimizer's update of every parameter, then cse, dce,
/// fuse-elementwise and schedule-updates. The step takes the graph's data inputs, "step" (i64,
/// counting from 1), the parameters and the optimizer's state; it returns "loss", "lr" and the
/// next parameters and state, which update their inputs in place. Returns what the forward
/// passes fused (the fused ops they made from the graph's primitives). With
/// data_parallel_bucket_bytes, the data-parallel pass runs before the optimizer, as in
/// buildTrainStep.
FusionStatistics makeTrainStep(Graph &graph, const OptimizerOptions &optimizer,
                               const std::string &passes = "default",
                               std::optional<int64_t> data_parallel_bucket_bytes = std::nullopt);

/// The training step: inputs src, tgt, step (and seed with dropout), parameters and optimizer
/// state; outputs loss, the next parameters and state (named like their inputs) and lr.
/// With data_parallel_bucket_bytes, the data-parallel pass runs between autodiff and the
/// optimizer (gradients summed over the group in buckets of about that many bytes) and the
/// step also outputs dp.tokens, the group's target tokens.
BuiltModel buildTrainStep(const TransformerConfig &cfg, const GraphOptions &opts,
                          const OptimizerOptions &optimizer, const std::string &passes = "default",
                          std::optional<int64_t> data_parallel_bucket_bytes = std::nullopt);

/// The stages that buildStage builds, as kiln dump's --stage names them.
const std::vector<std::string> &stageNames();

/// A stage's graph by name: "forward" or "loss" as recorded (no passes), "fused" (buildLoss),
/// "train" (buildTrainStep with Adam for the model's width), "encoder" or "decode-step". Throws
/// Error for another name.
BuiltModel buildStage(const TransformerConfig &cfg, const std::string &stage,
                      const GraphOptions &opts, const std::string &passes = "default");

} // namespace kiln
