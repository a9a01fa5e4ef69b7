#include "passes/pipelines.h"

namespace kiln {

namespace {

const std::vector<std::string> kFusions = {"fuse-softmax", "fuse-layer-norm", "fuse-attention",
                                           "fuse-cross-entropy"};

} // namespace

std::vector<std::string> precisionPasses(const std::string &precision) {
  if (precision == "f32")
    return {};
  if (precision == "bf16")
    return {"mixed-precision"};
  throw Error({}, fmt::format("--precision takes f32 or bf16, found '{}'", precision));
}

std::vector<std::string> pipelinePasses(const std::string &name, const std::string &precision) {
  std::vector<std::string> low = precisionPasses(precision);
  // cse before the fusions too: a subexpression written twice (the mean of x.var(), exp(s - max)
  // in the numerator and the sum) is one value to the patterns.
  std::vector<std::string> passes = {"canonicalize", "cse"};
  passes.insert(passes.end(), kFusions.begin(), kFusions.end());
  // After the fusions, which match the f32 graph the DSL wrote, and before autodiff, so the
  // backward products are bf16 too.
  passes.insert(passes.end(), low.begin(), low.end());
  if (name == "train") {
    // Fusion comes before autodiff, so the backward pass is made of fused backward ops.
    passes.push_back("autodiff");
    passes.push_back("optimizer");
  } else if (name != "infer") {
    throw Error({}, fmt::format("unknown pipeline '{}'; known pipelines: infer, train", name));
  }
  passes.push_back("cse");
  passes.push_back("dce");
  // Last: grouping marks the final graph's nodes for the backends and changes no value.
  passes.push_back("fuse-elementwise");
  // The order the backends run and plan memory in: each update right after its gradient.
  if (name == "train")
    passes.push_back("schedule-updates");
  return passes;
}

std::vector<std::string> pipelineNames() { return {"infer", "train"}; }

} // namespace kiln
