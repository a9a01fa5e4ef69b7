// fuse-softmax: finds softmax written from primitives and replaces it with the softmax op.
//
//   div(exp(x - max(x)), sum(exp(x - max(x))))     the stable form
//   div(exp(x), sum(exp(x)))                       without the max
//   exp(x - logsumexp(x))                          logsumexp as max + log(sum(exp(x - max)))
//                                                  or as log(sum(exp(x)))
// The reductions must share one axis and keep it. Subexpressions written twice count as one
// (exp(x - max) in the numerator and again in the sum): every op is pure.

#include "passes/match.h"
#include "passes/rewrite.h"

namespace kiln {
namespace {

/// The axis of a keepdims reduction `op` of x over one axis, if n is one.
std::optional<int64_t> keptAxisOf(const Node *n, OpHandle op, const Value *x) {
  if (!n || !n->is(op) || !match::same(n->operands[0], x) || !n->getBool("keepdims"))
    return std::nullopt;
  return match::singleAxis(*n);
}

/// x when z is x - max(x) over `axis` (kept), or z itself when z has no max subtracted.
Value *unshift(Value *z, int64_t axis) {
  if (Node *sub = match::def(z, op::Sub)) {
    Value *x = sub->operands[0];
    if (keptAxisOf(sub->operands[1]->def, op::ReduceMax, x) == axis)
      return x;
  }
  return z;
}

Value *create(Rewriter &r, Value *x, int64_t axis) {
  return r.b.create(op::Softmax, {x}, {{"axis", axis - x->type.rank()}});
}

/// div(exp(z), reduce_sum(exp(z))) with z = x or x - max(x); the sum may read its own copy of
/// the exponentials.
Value *fuseDivForm(Node &div, Rewriter &r) {
  Node *e = match::def(div.operands[0], op::Exp);
  Node *sum = match::def(div.operands[1], op::ReduceSum);
  Node *summed = sum ? match::def(sum->operands[0], op::Exp) : nullptr;
  if (!e || !summed)
    return nullptr;
  if (!match::same(e->result(), summed->result())) {
    r.missed(div.loc, "not fused: the sum in the denominator is not of the numerator's "
                      "exponentials");
    return nullptr;
  }
  auto axis = keptAxisOf(sum, op::ReduceSum, e->result());
  if (!axis) {
    r.missed(div.loc, "not fused: the sum of the exponentials must run over one axis and keep it");
    return nullptr;
  }
  for (Node *exps : {e, summed})
    if (!match::onlyUsedBy(r.graph, exps->result(), {&div, sum})) {
      r.missed(div.loc, fmt::format("not fused: the exponentials are also used by {}",
                                    match::otherUser(r.graph, exps->result(), {&div, sum})));
      return nullptr;
    }
  // A max over another axis than the sum stays inside: softmax of (x - that max).
  return create(r, unshift(e->operands[0], *axis), *axis);
}

/// (z, axis) when l is log(sum(exp(z))) over one kept axis.
std::optional<std::pair<Value *, int64_t>> logSumExpOperand(Value *l) {
  Node *log = match::def(l, op::Log);
  Node *sum = log ? match::def(log->operands[0], op::ReduceSum) : nullptr;
  Node *e = sum ? match::def(sum->operands[0], op::Exp) : nullptr;
  if (!e)
    return std::nullopt;
  auto axis = keptAxisOf(sum, op::ReduceSum, e->result());
  if (!axis)
    return std::nullopt;
  return std::pair{e->operands[0], *axis};
}

/// The x and axis of logsumexp(x) written as m + log(sum(exp(x - m))) with m = max(x), or as
/// log(sum(exp(x))).
std::optional<std::pair<Value *, int64_t>> logSumExp(Value *lse) {
  if (Node *add = match::def(lse, op::Add))
    return match::commuted(*add,
                           [&](Value *m, Value *l) -> std::optional<std::pair<Value *, int64_t>> {
                             auto inner = logSumExpOperand(l);
                             Node *shift = inner ? match::def(inner->first, op::Sub) : nullptr;
                             // The max added back must be the one subtracted inside the sum.
                             if (!shift || !match::same(shift->operands[1], m))
                               return std::nullopt;
                             Value *x = shift->operands[0];
                             if (keptAxisOf(m->def, op::ReduceMax, x) != inner->second)
                               return std::nullopt;
                             return std::pair{x, inner->second};
                           });
  return logSumExpOperand(lse);
}

/// exp(x - logsumexp(x)).
Value *fuseLogSumExpForm(Node &e, Rewriter &r) {
  Node *sub = match::def(e.operands[0], op::Sub);
  if (!sub)
    return nullptr;
  auto lse = logSumExp(sub->operands[1]);
  if (!lse || !match::same(lse->first, sub->operands[0]))
    return nullptr;
  return create(r, lse->first, lse->second);
}

const RewritePattern kPatterns[] = {
    {"softmax (exp / sum)", op::Div, fuseDivForm},
    {"softmax (exp(x - logsumexp))", op::Exp, fuseLogSumExpForm},
};

} // namespace

std::unique_ptr<Pass> createFuseSoftmaxPass(const PassOptions &) {
  return createPatternPass("fuse-softmax", kPatterns);
}

} // namespace kiln
