#include "passes/pass.h"

namespace kiln {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
      {"canonicalize",
       "fold constants, drop algebraic identities, simplify reshape and transpose chains",
       createCanonicalizePass},
      {"cse", "merge nodes that compute the same value", createCsePass},
      {"dce", "remove nodes whose results no output needs", createDcePass},
      {"fuse-softmax", "replace softmax written from exp, max and sum with the softmax op",
       createFuseSoftmaxPass},
      {"fuse-layer-norm", "replace layer normalisation written out with the layer_norm op",
       createFuseLayerNormPass},
      {"fuse-attention",
       "replace softmax(q k^T * scale + mask) v with the attention op (after fuse-softmax)",
       createFuseAttentionPass},
      {"fuse-cross-entropy",
       "replace the mean cross-entropy of log-softmax at labels with softmax_cross_entropy",
       createFuseCrossEntropyPass},
      {"mixed-precision",
       "matmuls and attention in bf16 between casts from and to f32 (autocast)",
       createMixedPrecisionPass,
       {{"dtype", "the low precision (default bf16, the only one)"}}},
      {"schedule-updates",
       "run each parameter's update as soon as its gradient is complete (frees gradients early)",
       createScheduleUpdatesPass},
      {"expand-attention",
       "write attention and attention_grad out as matmul, softmax and elementwise ops",
       createExpandAttentionPass},
      {"fuse-elementwise",
       "group chains of elementwise ops, broadcasts and a reduction into one kernel each",
       createFuseElementwisePass},
      {"autodiff",
       "append reverse-mode gradients of a scalar output as outputs grad.<input>",
       createAutodiffPass,
       {{"of", "the scalar output to differentiate (default: \"loss\" or the only scalar output)"},
        {"wrt",
         "comma-separated inputs to differentiate with respect to (default: every parameter)"}}},
      {"optimizer",
       "append the parameter update from the grad.<param> outputs",
       createOptimizerPass,
       {{"optimizer", "sgd, adam or adamw (default adam)"},
        {"lr", "a constant learning rate instead of the warm-up schedule"},
        {"warmup", "warm-up steps of the schedule d_model^-0.5 min(step^-0.5, step warmup^-1.5) "
                   "(default 4000)"},
        {"d-model", "d_model of the schedule (default 512)"},
        {"beta1", "Adam's beta1 (default 0.9)"},
        {"beta2", "Adam's beta2 (default 0.98)"},
        {"eps", "Adam's epsilon (default 1e-9)"},
        {"momentum", "SGD's momentum (default 0.9)"},
        {"weight-decay", "weight decay: L2 for sgd and adam, decoupled for adamw (default 0)"},
        {"clip-norm", "clip gradients to this global norm (default: no clipping)"},
        {"skip-nonfinite", "true: a step whose loss or gradients are not finite changes nothing "
                           "and outputs skipped = true (default false)"}}},
      {"data-parallel",
       "sum the grad.<param> outputs over the data-parallel group, weighed by each rank's tokens, "
       "in buckets of all_reduce (between autodiff and the optimizer)",
       createDataParallelPass,
       {{"bucket-bytes", "gradient bytes per all_reduce, about (default 4194304)"}}},
  };
  return passes;
}

std::string optionOr(const PassOptions &opts, const std::string &name,
                     const std::string &fallback) {
  auto it = opts.find(name);
  return it == opts.end() ? fallback : it->second;
}

std::vector<std::string> splitList(std::string_view list) {
  std::vector<std::string> parts;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view part = list.substr(0, comma);
    if (!part.empty())
      parts.emplace_back(part);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return parts;
}

const PassInfo *lookupPass(std::string_view name) {
  for (const PassInfo &p : allPasses())
    if (p.name == name)
      return &p;
  return nullptr;
}

} // namespace kiln
