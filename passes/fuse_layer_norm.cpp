// fuse-layer-norm: finds layer normalisation over the last axis written from primitives.
//
//   c = x - mean(x);  var = mean(c * c) | mean(c ^ 2) | mean(x * x) - mean(x)^2
//   c * rsqrt(var + eps) | c / sqrt(var + eps) | c * (1 / sqrt(var + eps))   -> layer_norm(x)
//   layer_norm(x) * w                                                       -> layer_norm(x, w)
//   layer_norm(x, w) + b   (or layer_norm(x) + b, with w = 1)               -> layer_norm(x, w, b)
//
// Subexpressions written twice count as one, as in PyTorch's x.var(unbiased=False), which
// computes the mean again inside the variance: every op is pure.

#include "passes/match.h"
#include "passes/rewrite.h"

namespace kiln {
namespace {

/// x when m is mean(x) over the last axis, kept.
Value *meanOf(Value *m) {
  Node *n = m->def;
  return match::reducesLastAxisKept(n, op::ReduceMean) ? n->operands[0] : nullptr;
}

/// Whether v is y * y or y ^ 2.
bool isSquareOf(Value *v, Value *y) {
  if (Node *mul = match::def(v, op::Mul))
    return match::same(mul->operands[0], y) && match::same(mul->operands[1], y);
  if (Node *pow = match::def(v, op::Pow))
    return match::same(pow->operands[0], y) && match::splat(pow->operands[1]) == 2.0;
  return false;
}

/// Whether var is the variance of x around mean = mean(x), with centered = x - mean.
bool isVariance(Value *var, Value *x, Value *mean, Value *centered) {
  if (Value *inner = meanOf(var))
    return isSquareOf(inner, centered);
  if (Node *sub = match::def(var, op::Sub)) {
    Value *mean_sq = meanOf(sub->operands[0]);
    return mean_sq && isSquareOf(mean_sq, x) && isSquareOf(sub->operands[1], mean);
  }
  return false;
}

/// The variance and eps of var + eps (eps a scalar constant).
std::optional<std::pair<Value *, double>> plusEps(Value *v) {
  Node *add = match::def(v, op::Add);
  if (!add)
    return std::nullopt;
  return match::commuted(*add,
                         [](Value *var, Value *eps) -> std::optional<std::pair<Value *, double>> {
                           if (auto e = match::splat(eps); e && eps->type.rank() == 0)
                             return std::pair{var, *e};
                           return std::nullopt;
                         });
}

/// The (var + eps) under the reciprocal square root r: rsqrt(s), 1 / sqrt(s).
Value *underRsqrt(Value *r) {
  if (Node *rs = match::def(r, op::Rsqrt))
    return rs->operands[0];
  if (Node *div = match::def(r, op::Div))
    if (match::splat(div->operands[0]) == 1.0)
      if (Node *sq = match::def(div->operands[1], op::Sqrt))
        return sq->operands[0];
  return nullptr;
}

/// Builds layer_norm(x) if centered = x - mean(x) and s = var(x) + eps. eps is the constant
/// as written: the op adds it to the variance as the graph does.
Value *normalize(Node &root, Rewriter &r, Value *centered, Value *s) {
  Node *sub = match::def(centered, op::Sub);
  if (!sub)
    return nullptr;
  Value *x = sub->operands[0], *mean = sub->operands[1];
  Value *averaged = meanOf(mean);
  if (!averaged || !match::same(averaged, x))
    return nullptr;
  auto ve = plusEps(s);
  if (!ve) {
    r.missed(root.loc, "not fused: x - mean(x) is divided by the square root of something other "
                       "than a variance plus a scalar constant eps");
    return nullptr;
  }
  if (!(ve->second >= 0)) {
    r.missed(root.loc, fmt::format("not fused: eps is {}; layer_norm needs it non-negative",
                                   floatStr(ve->second)));
    return nullptr;
  }
  if (!isVariance(ve->first, x, mean, centered)) {
    r.missed(root.loc, "not fused: x - mean(x) is divided by sqrt(v + eps) with v not the "
                       "variance of x over the last axis");
    return nullptr;
  }
  if (!isFloat(x->type.dtype) || x->type != root.result()->type)
    return nullptr;
  return r.b.create(op::LayerNorm, {x}, {{"eps", ve->second}});
}

/// c * rsqrt(var + eps), c * (1 / sqrt(var + eps)).
Value *fuseMulForm(Node &mul, Rewriter &r) {
  return match::commuted(mul, [&](Value *c, Value *rs) -> Value * {
    Value *s = underRsqrt(rs);
    return s ? normalize(mul, r, c, s) : nullptr;
  });
}

/// c / sqrt(var + eps).
Value *fuseDivForm(Node &div, Rewriter &r) {
  Node *sq = match::def(div.operands[1], op::Sqrt);
  return sq ? normalize(div, r, div.operands[0], sq->operands[0]) : nullptr;
}

/// A layer_norm node with `operands` operands whose result only `user` reads.
Node *soleLayerNorm(Rewriter &r, Value *v, size_t operands, const Node &user) {
  Node *ln = match::def(v, op::LayerNorm);
  if (!ln || ln->operands.size() != operands || ln->getInt("axis") != -1)
    return nullptr;
  return match::onlyUsedBy(r.graph, v, {&user}) ? ln : nullptr;
}

/// Whether p fits as the scale or shift of a layer norm over x: shape [d] of x's dtype.
bool isAffineParam(const Value *p, const Node &ln) {
  const TensorType &x = ln.operands[0]->type;
  return p->type.dtype == x.dtype && p->type.shape == Shape{x.shape.back()};
}

Value *fuseScale(Node &mul, Rewriter &r) {
  return match::commuted(mul, [&](Value *n, Value *w) -> Value * {
    Node *ln = soleLayerNorm(r, n, 1, mul);
    if (!ln || !isAffineParam(w, *ln))
      return nullptr;
    return r.b.create(op::LayerNorm, {ln->operands[0], w}, ln->attrs);
  });
}

Value *fuseShift(Node &add, Rewriter &r) {
  return match::commuted(add, [&](Value *n, Value *bias) -> Value * {
    Node *ln = soleLayerNorm(r, n, 2, add);
    Value *w = ln ? ln->operands[1] : nullptr;
    if (!ln && (ln = soleLayerNorm(r, n, 1, add)))
      w = r.b.splat(1.0, n->type.dtype, {n->type.shape.back()});
    if (!ln || !isAffineParam(bias, *ln))
      return nullptr;
    return r.b.create(op::LayerNorm, {ln->operands[0], w, bias}, ln->attrs);
  });
}

const RewritePattern kPatterns[] = {
    {"layer norms (c * rsqrt)", op::Mul, fuseMulForm},
    {"layer norms (c / sqrt)", op::Div, fuseDivForm},
    {"scales folded", op::Mul, fuseScale},
    {"shifts folded", op::Add, fuseShift},
};

} // namespace

std::unique_ptr<Pass> createFuseLayerNormPass(const PassOptions &) {
  return createPatternPass("fuse-layer-norm", kPatterns);
}

} // namespace kiln
