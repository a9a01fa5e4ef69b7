// mixed-precision: matrix products and attention in bf16, everything else in f32, as PyTorch's
// autocast does on the CPU.
//
//   matmul(a, b) : f32          -> cast(matmul(cast(a, bf16), cast(b, bf16)), f32)
//   attention(q, k, v, ...) : f32 -> cast(attention(q', k', v', mask', ...), f32)
//
// (attention_grad likewise, each of its three results cast back.) The products accumulate in
// f32 inside their kernels (oneDNN's bf16 GEMM, the JIT's f32 compute type) and round their
// results to bf16 once; layer norm, softmax, the loss and the optimizer stay f32 because they
// read f32 values. Run before autodiff, the casts' VJPs put the backward products in bf16 too,
// while the parameters, their gradients and the optimizer state stay f32 (the master weights).
// A float attention mask is cast with its scores; a bool mask and the dropout key are not.

#include "ir/builder.h"
#include "passes/pass.h"

#include <unordered_set>

namespace kiln {
namespace {

class MixedPrecisionPass : public Pass {
public:
  explicit MixedPrecisionPass(DType low) : low_(low) {}
  std::string_view name() const override { return "mixed-precision"; }

  bool run(Graph &g, PassContext &ctx) override {
    std::vector<Node *> chosen;
    for (auto &n : g.nodes())
      if ((n->is(op::Matmul) || n->is(op::Attention) || n->is(op::AttentionGrad)) &&
          n->operands[0]->type.dtype == DType::f32)
        chosen.push_back(n.get());
    for (Node *n : chosen) {
      Builder b(g, n->loc);
      std::vector<Value *> operands = n->operands;
      for (size_t i = 0; i < operands.size(); ++i)
        if (operands[i]->type.dtype == DType::f32)
          operands[i] = b.create(op::Cast, {operands[i]}, {{"dtype", low_}});
      Node *low = b.createNode(OpHandle{n->name()}, operands, n->attrs);
      for (size_t r = 0; r < n->results.size(); ++r)
        g.replaceAllUsesWith(
            n->result(static_cast<int>(r)),
            b.create(op::Cast, {low->result(static_cast<int>(r))}, {{"dtype", DType::f32}}));
      ctx.count(fmt::format("{} in {}", n->name(), dtypeName(low_)));
    }
    std::unordered_set<const Node *> replaced(chosen.begin(), chosen.end());
    g.eraseNodes([&](const Node &n) { return replaced.count(&n) > 0; });
    g.sortTopologically();
    return !chosen.empty();
  }

private:
  DType low_;
};

} // namespace

std::unique_ptr<Pass> createMixedPrecisionPass(const PassOptions &opts) {
  std::string dtype = optionOr(opts, "dtype", "bf16");
  if (dtype != "bf16")
    throw Error({}, fmt::format("mixed-precision: --dtype takes bf16, found '{}'", dtype));
  return std::make_unique<MixedPrecisionPass>(DType::bf16);
}

} // namespace kiln
