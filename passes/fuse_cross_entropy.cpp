// fuse-cross-entropy: finds the mean cross-entropy of logits against integer labels and
// replaces it with softmax_cross_entropy.
//
//   logp   = (x - max) - log(sum(exp(x - max))) | x - log(sum(exp(x))) | log(softmax(x))
//   nll    = -gather(logp, labels, last axis, batch_dims = rank - 1)
//          | -sum(logp * onehot(labels), last axis)
//   per    = nll | (1 - e) * nll + e * (-mean(logp, last axis))          (label smoothing e)
//   loss   = sum(per * mask) / sum(mask), mask = cast(labels != pad)     (ignore_index = pad)
//          | mean(per)                                                   (no ignored label)

#include "passes/match.h"
#include "passes/rewrite.h"

#include <cmath>

namespace kiln {
namespace {

/// x when lp is the log-softmax of x over its last axis, written out or as log(softmax).
Value *logSoftmaxOf(Value *lp) {
  if (Node *log = match::def(lp, op::Log))
    if (Node *sm = match::def(log->operands[0], op::Softmax))
      return *normalizeAxis(sm->getInt("axis"), lp->type.rank()) == lp->type.rank() - 1
                 ? sm->operands[0]
                 : nullptr;
  Node *sub = match::def(lp, op::Sub);
  if (!sub)
    return nullptr;
  Value *z = sub->operands[0];
  Node *log = match::def(sub->operands[1], op::Log);
  Node *sum = log ? log->operands[0]->def : nullptr;
  if (!match::reducesLastAxisKept(sum, op::ReduceSum))
    return nullptr;
  Node *e = match::def(sum->operands[0], op::Exp);
  if (!e || e->operands[0] != z)
    return nullptr;
  if (Node *shift = match::def(z, op::Sub))
    if (Node *max = shift->operands[1]->def;
        match::reducesLastAxisKept(max, op::ReduceMax) && max->operands[0] == shift->operands[0])
      return shift->operands[0];
  return z;
}

/// labels when oh is a one-hot encoding of them over `classes` classes:
/// cast(eq(iota over the last axis, labels[..., None])).
Value *oneHotLabels(Value *oh, int64_t classes) {
  Node *cast = match::def(oh, op::Cast);
  Node *eq = cast ? match::def(cast->operands[0], op::Eq) : nullptr;
  if (!eq)
    return nullptr;
  return match::commuted(*eq, [&](Value *iota, Value *expanded) -> Value * {
    Node *io = match::def(iota, op::Iota);
    Node *reshape = match::def(expanded, op::Reshape);
    if (!io || !reshape ||
        *normalizeAxis(io->getInt("axis"), iota->type.rank()) != iota->type.rank() - 1)
      return nullptr;
    // The iota must count every class (the caller checks the one-hot has logp's shape).
    if (iota->type.shape.back() != classes)
      return nullptr;
    Value *labels = reshape->operands[0];
    Shape want = labels->type.shape;
    want.push_back(1);
    return expanded->type.shape == want ? labels : nullptr;
  });
}

struct Nll {
  Value *logits, *labels;
};

/// -log p[label] per position.
std::optional<Nll> matchNll(Value *v) {
  Node *neg = match::def(v, op::Neg);
  if (!neg)
    return std::nullopt;
  Value *inner = neg->operands[0];
  if (Node *g = match::def(inner, op::Gather)) {
    Value *lp = g->operands[0];
    int64_t rank = lp->type.rank();
    if (*normalizeAxis(g->getInt("axis"), rank) != rank - 1 || g->getInt("batch_dims") != rank - 1)
      return std::nullopt;
    if (Value *x = logSoftmaxOf(lp))
      return Nll{x, g->operands[1]};
  }
  if (Node *sum = match::def(inner, op::ReduceSum); sum && !sum->getBool("keepdims")) {
    auto axis = match::singleAxis(*sum);
    Node *mul = match::def(sum->operands[0], op::Mul);
    if (!axis || !mul || *axis != sum->operands[0]->type.rank() - 1)
      return std::nullopt;
    return match::commuted(*mul, [](Value *lp, Value *oh) -> std::optional<Nll> {
      if (oh->type.shape != lp->type.shape)
        return std::nullopt;
      Value *x = logSoftmaxOf(lp), *labels = oneHotLabels(oh, lp->type.shape.back());
      return x && labels ? std::optional<Nll>(Nll{x, labels}) : std::nullopt;
    });
  }
  return std::nullopt;
}

/// The logits of -mean(logp, last axis).
Value *smoothingTermOf(Value *v) {
  Node *neg = match::def(v, op::Neg);
  Node *mean = neg ? match::def(neg->operands[0], op::ReduceMean) : nullptr;
  if (!mean || mean->getBool("keepdims"))
    return nullptr;
  auto axis = match::singleAxis(*mean);
  return axis && *axis == mean->operands[0]->type.rank() - 1 ? logSoftmaxOf(mean->operands[0])
                                                             : nullptr;
}

struct PerToken {
  Nll nll;
  double smoothing = 0;
};

/// c * y or y * c with c a scalar splat: (y, c).
std::optional<std::pair<Value *, double>> scaled(Value *v) {
  Node *mul = match::def(v, op::Mul);
  if (!mul)
    return std::nullopt;
  return match::commuted(*mul, [](Value *y, Value *c) -> std::optional<std::pair<Value *, double>> {
    auto s = match::splat(c);
    return s && c->type.rank() == 0 ? std::optional(std::pair{y, *s}) : std::nullopt;
  });
}

std::optional<PerToken> matchPerToken(Value *v) {
  if (auto nll = matchNll(v))
    return PerToken{*nll};
  Node *add = match::def(v, op::Add);
  if (!add)
    return std::nullopt;
  return match::commuted(*add, [](Value *a, Value *b) -> std::optional<PerToken> {
    auto sa = scaled(a), sb = scaled(b);
    if (!sa || !sb || std::abs(sa->second + sb->second - 1) > 1e-6 || sb->second < 0 ||
        sb->second > 1)
      return std::nullopt;
    auto nll = matchNll(sa->first);
    Value *smooth = smoothingTermOf(sb->first);
    if (!nll || smooth != nll->logits)
      return std::nullopt;
    return PerToken{*nll, sb->second};
  });
}

bool reducesAll(const Node *n) {
  if (!n || !n->is(op::ReduceSum) || n->getBool("keepdims"))
    return false;
  return static_cast<int64_t>(n->getInts("axes").size()) == n->operands[0]->type.rank();
}

/// The pad id of mask = cast(labels != pad).
std::optional<int64_t> padOf(Value *mask, Value *labels) {
  Node *cast = match::def(mask, op::Cast);
  Node *ne = cast ? match::def(cast->operands[0], op::Ne) : nullptr;
  if (!ne)
    return std::nullopt;
  return match::commuted(*ne, [&](Value *l, Value *p) -> std::optional<int64_t> {
    auto pad = match::splat(p);
    return l == labels && pad ? std::optional(static_cast<int64_t>(*pad)) : std::nullopt;
  });
}

Value *create(Rewriter &r, const PerToken &pt, int64_t ignore, Value *root) {
  Value *logits = pt.nll.logits, *labels = pt.nll.labels;
  if (logits->type.dtype != root->type.dtype)
    return nullptr;
  AttrMap attrs = {{"ignore_index", ignore}, {"label_smoothing", pt.smoothing}};
  const OpDef &def = op::SoftmaxCrossEntropy.def();
  try {
    inferTypes(def, {logits->type, labels->type}, checkAttributes(def, attrs, root->def->loc),
               root->def->loc);
  } catch (const Error &e) {
    r.missed(root->def->loc, "not fused: " + e.message());
    return nullptr;
  }
  return r.b.create(op::SoftmaxCrossEntropy, {logits, labels}, attrs);
}

/// sum(per * mask) / sum(mask).
Value *fuseMaskedMean(Node &div, Rewriter &r) {
  Node *num = div.operands[0]->def, *den = div.operands[1]->def;
  if (!reducesAll(num) || !reducesAll(den))
    return nullptr;
  Node *mul = match::def(num->operands[0], op::Mul);
  if (!mul)
    return nullptr;
  Value *mask = den->operands[0];
  return match::commuted(*mul, [&](Value *per, Value *m) -> Value * {
    if (m != mask)
      return nullptr;
    auto pt = matchPerToken(per);
    // One loss term per label, each counted once: no broadcasting anywhere in the mean.
    if (pt &&
        (per->type.shape != pt->nll.labels->type.shape || mask->type.shape != per->type.shape))
      pt.reset();
    if (!pt) {
      r.missed(div.loc, "not fused: a masked mean, but not of -log softmax(logits)[label]");
      return nullptr;
    }
    auto pad = padOf(mask, pt->nll.labels);
    if (!pad) {
      r.missed(div.loc, "not fused: the mask is not labels != a constant pad id");
      return nullptr;
    }
    return create(r, *pt, *pad, div.result());
  });
}

/// mean(per) over every axis.
Value *fuseMean(Node &mean, Rewriter &r) {
  if (mean.getBool("keepdims") ||
      static_cast<int64_t>(mean.getInts("axes").size()) != mean.operands[0]->type.rank())
    return nullptr;
  auto pt = matchPerToken(mean.operands[0]);
  if (!pt || mean.operands[0]->type.shape != pt->nll.labels->type.shape)
    return nullptr;
  return create(r, *pt, -100, mean.result());
}

const RewritePattern kPatterns[] = {
    {"cross-entropies (masked mean)", op::Div, fuseMaskedMean},
    {"cross-entropies (mean)", op::ReduceMean, fuseMean},
};

} // namespace

std::unique_ptr<Pass> createFuseCrossEntropyPass(const PassOptions &) {
  return createPatternPass("fuse-cross-entropy", kPatterns);
}

} // namespace kiln
