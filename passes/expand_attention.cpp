// expand-attention: attention and attention_grad written out as their pieces (see the header).
// The pieces repeat the fused op's arithmetic in the dtype its kernels compute in (f32 for bf16
// tensors, whose products alone read and write bf16), in the order of its reference kernel:
// scale, then the mask, then the causal -inf, softmax, then dropout's factor. Dropout draws
// random_uniform over the [..., Tq, Tk] probabilities at the op's dropout_offset, which are the
// numbers the fused op draws.

#include "passes/expand_attention.h"

#include "ir/attention.h"
#include "ir/builder.h"
#include "ir/literal.h"
#include "passes/pass.h"

#include <limits>
#include <unordered_set>

namespace kiln {
namespace {

/// The probabilities of an attention (or attention_grad) node, written out before it. They are
/// computed in the fused kernel's compute type, f32 for bf16 tensors: only the matrix products
/// read and write the tensors' dtype.
struct Probabilities {
  DType data = DType::f32, work = DType::f32; ///< the tensors' dtype and the compute dtype
  Value *p = nullptr;                         ///< softmax of the masked, scaled scores
  Value *hidden = nullptr; ///< where a bool mask or causal hides a key (null when nothing can)
  Value *keep = nullptr;   ///< where dropout keeps a probability (null without dropout)
  Value *kept = nullptr;   ///< p with dropout applied (p itself without dropout)
  double keep_scale = 1;   ///< 1 / (1 - dropout), rounded to the tensors' dtype
};

/// `x` in `dtype` (x itself when it is already).
Value *castTo(Builder &b, Value *x, DType dtype) {
  return x->type.dtype == dtype ? x : b.create(op::Cast, {x}, {{"dtype", dtype}});
}

/// x times dropout's factor: x / (1 - dropout) where kept, 0 elsewhere.
Value *dropped(Builder &b, const Probabilities &pr, Value *x) {
  if (!pr.keep)
    return x;
  DType dt = x->type.dtype;
  Value *scaled = b.create(op::Mul, {x, b.splat(pr.keep_scale, dt)});
  return b.create(op::Select, {pr.keep, scaled, b.splat(0, dt)});
}

Probabilities probabilities(Builder &b, const Node &n, size_t operands) {
  Value *q = n.operands[0], *k = n.operands[1];
  Probabilities out;
  out.data = q->type.dtype;
  out.work = out.data == DType::bf16 ? DType::f32 : out.data;
  DType w = out.work;
  double dropout = n.getFloat("dropout");
  AttentionOperands roles = attentionOperands(operands, dropout);
  Value *s = castTo(b, b.create(op::Matmul, {q, k}, {{"transpose_b", true}}), w);
  s = b.create(op::Mul, {s, b.splat(n.getFloat("scale"), w)});
  auto neg_inf = [&] { return b.splat(-std::numeric_limits<double>::infinity(), w); };
  if (roles.mask >= 0) {
    Value *mask = n.operands[roles.mask];
    if (mask->type.dtype == DType::boolean)
      out.hidden = mask;
    else
      s = b.create(op::Add, {s, castTo(b, mask, w)});
  }
  const Shape &scores = s->type.shape;
  int64_t tq = scores[scores.size() - 2], tk = scores.back();
  if (n.getBool("causal")) {
    IntList square = {tq, tk};
    Value *row = b.create(op::Iota, {}, {{"axis", int64_t{0}}, {"shape", square}});
    Value *col = b.create(op::Iota, {}, {{"axis", int64_t{1}}, {"shape", square}});
    Value *above = b.create(op::Gt, {col, row});
    out.hidden = out.hidden ? b.create(op::Or, {out.hidden, above}) : above;
  }
  if (out.hidden)
    s = b.create(op::Select, {out.hidden, neg_inf(), s});
  out.p = out.kept = b.create(op::Softmax, {s}, {{"axis", int64_t{-1}}});
  if (dropout > 0) {
    Value *u = b.create(op::RandomUniform, {n.operands[roles.seed]},
                        {{"dtype", w},
                         {"offset", n.getInt("dropout_offset")},
                         {"shape", IntList(scores.begin(), scores.end())}});
    out.keep = b.create(op::Ge, {u, b.splat(roundTo(dropout, out.data), w)});
    out.keep_scale = roundTo(1.0 / (1.0 - dropout), out.data);
    out.kept = dropped(b, out, out.p);
  }
  return out;
}

void expandForward(Graph &g, Node &n) {
  Builder b(g, n.loc);
  Probabilities pr = probabilities(b, n, n.operands.size());
  Value *kept = castTo(b, pr.kept, pr.data);
  g.replaceAllUsesWith(n.result(), b.create(op::Matmul, {kept, n.operands[2]}));
}

void expandBackward(Graph &g, Node &n) {
  Builder b(g, n.loc);
  Value *q = n.operands[0], *k = n.operands[1], *v = n.operands[2], *gout = n.operands.back();
  Probabilities pr = probabilities(b, n, n.operands.size() - 1);
  Value *dv = b.create(op::Matmul, {castTo(b, pr.kept, pr.data), gout}, {{"transpose_a", true}});
  Value *dkept = castTo(b, b.create(op::Matmul, {gout, v}, {{"transpose_b", true}}), pr.work);
  Value *ds = b.create(op::SoftmaxGrad, {pr.p, dropped(b, pr, dkept)}, {{"axis", int64_t{-1}}});
  // A hidden score is a constant -inf and gets no gradient, in a row hidden wholly too (whose
  // probabilities are NaN): as the written select's gradient.
  if (pr.hidden)
    ds = b.create(op::Select, {pr.hidden, b.splat(0, pr.work), ds});
  ds = castTo(b, b.create(op::Mul, {ds, b.splat(n.getFloat("scale"), pr.work)}), pr.data);
  Value *dq = b.create(op::Matmul, {ds, k});
  Value *dk = b.create(op::Matmul, {ds, q}, {{"transpose_a", true}});
  g.replaceAllUsesWith(n.result(0), dq);
  g.replaceAllUsesWith(n.result(1), dk);
  g.replaceAllUsesWith(n.result(2), dv);
}

class ExpandAttentionPass : public Pass {
public:
  std::string_view name() const override { return "expand-attention"; }
  bool run(Graph &g, PassContext &ctx) override {
    ExpandedAttention n = expandAttention(g, [](const Node &) { return true; });
    ctx.count("attention expanded", n.forward);
    ctx.count("attention_grad expanded", n.backward);
    return n.forward + n.backward > 0;
  }
};

} // namespace

ExpandedAttention expandAttention(Graph &g, const std::function<bool(const Node &)> &select) {
  std::vector<Node *> chosen;
  for (auto &n : g.nodes())
    if ((n->is(op::Attention) || n->is(op::AttentionGrad)) && select(*n))
      chosen.push_back(n.get());
  ExpandedAttention count;
  for (Node *n : chosen) {
    if (n->is(op::Attention)) {
      expandForward(g, *n);
      ++count.forward;
    } else {
      expandBackward(g, *n);
      ++count.backward;
    }
  }
  if (chosen.empty())
    return count;
  std::unordered_set<const Node *> expanded(chosen.begin(), chosen.end());
  g.eraseNodes([&](const Node &n) { return expanded.count(&n) > 0; });
  g.sortTopologically();
  return count;
}

std::unique_ptr<Pass> createExpandAttentionPass(const PassOptions &) {
  return std::make_unique<ExpandAttentionPass>();
}

} // namespace kiln
