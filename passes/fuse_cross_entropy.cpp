// fuse-cross-entropy: finds the mean cross-entropy of logits against integer labels and
// replaces it with softmax_cross_entropy.
//
//   logp   = (x - max) - log(sum(exp(x - max))) | x - log(sum(exp(x))) | log(softmax(x))
//   nll    = -gather(logp, labels, last axis, batch_dims = rank - 1)
//          | -sum(logp * onehot(labels), last axis)
//   per    = nll | (1 - e) * nll + e * (-mean(logp, last axis))          (label smoothing e)
//   loss   = sum(per * mask) / sum(mask), mask = cast(labels != pad)     (ignore_index = pad)
//          | mean(per)                                                   (no ignored label)
//
// The fused op must compute what the graph computes for every label, so what the op gets
// comes from the graph:
// - ignore_index is the pad id of the mask. A plain mean ignores no label: ignore_index is
//   kNoLabel, which no i32 label can equal (an i64 label of exactly that value errors in the
//   written gather and is dropped by the op).
// - With gather, a label outside [0, V) is an error in the graph as in the op, except the pad
//   id, which the mask drops: the pad id must then lie in [0, V), where gather reads it.
// - The one-hot product gives a label outside [0, V) an all-zero row, a zero loss term that
//   still counts (and the smoothing term still applies); the op rejects such labels. It fuses
//   only labels known to lie in [0, V) (or to be the masked pad id): constants, iotas, and
//   min/max/select/reshapes of them.
// - The weights of label smoothing must be e and 1 - e exactly, in the dtype the graph
//   computes them in (as the op's kernels round 1 - e).

#include "passes/match.h"
#include "passes/rewrite.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

/// The ignore_index of a mean that ignores no label: no i32 label can equal it.
constexpr int64_t kNoLabel = std::numeric_limits<int64_t>::min();

struct Range {
  double lo, hi;
};

/// Bounds of the integer values v can hold, as far as the graph shows them (constants, iotas,
/// and min, max, select, cast and the reshaping ops over those); infinite where it does not.
Range rangeOf(const Value *v, int depth = 8) {
  constexpr Range kAny{-INFINITY, INFINITY};
  const Node *n = v->def;
  if (!n || depth == 0 || !isInteger(v->type.dtype))
    return kAny;
  if (n->is(op::Constant)) {
    const FloatList &values = n->getFloats("value");
    if (values.empty())
      return kAny;
    auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return Range{*lo, *hi};
  }
  if (n->is(op::Iota)) {
    int64_t axis = *normalizeAxis(n->getInt("axis"), v->type.rank());
    return Range{0, static_cast<double>(v->type.shape[axis] - 1)};
  }
  auto operand = [&](size_t i) { return rangeOf(n->operands[i], depth - 1); };
  if (n->is(op::Min) || n->is(op::Max) || n->is(op::Select)) {
    size_t first = n->is(op::Select) ? 1 : 0;
    Range a = operand(first), b = operand(first + 1);
    if (n->is(op::Min))
      return Range{std::min(a.lo, b.lo), std::min(a.hi, b.hi)};
    if (n->is(op::Max))
      return Range{std::max(a.lo, b.lo), std::max(a.hi, b.hi)};
    return Range{std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
  }
  // A cast to i32 may wrap an i64 value; one to i64 keeps every integer.
  if (n->is(op::Reshape) || n->is(op::BroadcastTo) || n->is(op::Transpose) || n->is(op::Slice) ||
      (n->is(op::Cast) && isInteger(n->operands[0]->type.dtype) &&
       (v->type.dtype == DType::i64 || n->operands[0]->type.dtype == DType::i32)))
    return operand(0);
  return kAny;
}

/// Whether every label lies in [0, classes) or is the pad id a mask drops.
bool labelsInRange(const Value *labels, int64_t classes, std::optional<int64_t> pad) {
  if (Node *c = match::def(labels, op::Constant))
    return std::all_of(c->getFloats("value").begin(), c->getFloats("value").end(), [&](double y) {
      return (y >= 0 && y < static_cast<double>(classes)) ||
             (pad && y == static_cast<double>(*pad));
    });
  Range r = rangeOf(labels);
  return r.lo >= 0 && r.hi < static_cast<double>(classes);
}

struct Nll {
  Value *logits, *labels;
  bool one_hot = false; ///< picked by a one-hot product rather than gather
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
      return x && labels ? std::optional<Nll>(Nll{x, labels, true}) : std::nullopt;
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

/// The per-token loss v: the nll, or the nll and a smoothing term weighted 1 - e and e. A
/// near miss (the nll is there, the weights or the smoothing are not right) says why in `why`.
std::optional<PerToken> matchPerToken(Value *v, std::string &why) {
  if (auto nll = matchNll(v))
    return PerToken{*nll};
  Node *add = match::def(v, op::Add);
  if (!add)
    return std::nullopt;
  return match::commuted(*add, [&](Value *a, Value *b) -> std::optional<PerToken> {
    auto sa = scaled(a), sb = scaled(b);
    auto nll = sa ? matchNll(sa->first) : std::nullopt;
    if (!nll || !sb)
      return std::nullopt;
    Value *smooth = smoothingTermOf(sb->first);
    if (!smooth || !match::same(smooth, nll->logits)) {
      why = "not fused: the term added to the nll is not the smoothing term -mean(log "
            "softmax(logits)) of the same logits";
      return std::nullopt;
    }
    // Exact in the dtype the graph multiplies in: the op's kernels compute 1 - e in it too.
    DType dtype = sa->first->type.dtype;
    double e = sb->second;
    if (!(e >= 0 && e <= 1) || roundTo(sa->second, dtype) != roundTo(1 - e, dtype)) {
      why = fmt::format("not fused: the nll is weighted {} and the smoothing term {}; label "
                        "smoothing needs weights 1 - e and e with e in [0, 1]",
                        floatStr(sa->second), floatStr(e));
      return std::nullopt;
    }
    return PerToken{*nll, e};
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
    return match::same(l, labels) && pad ? std::optional(static_cast<int64_t>(*pad)) : std::nullopt;
  });
}

/// Why labels (pad: the id the mask drops, if any) cannot go to the op unchanged, or "".
std::string labelsMismatch(const Nll &nll, std::optional<int64_t> pad) {
  int64_t classes = nll.logits->type.shape.back();
  if (nll.one_hot && !labelsInRange(nll.labels, classes, pad))
    return fmt::format("not fused: the one-hot product counts a label outside [0, {}) with a zero "
                       "log-probability, which softmax_cross_entropy rejects, and the labels are "
                       "not known to lie in [0, {})",
                       classes, classes);
  if (!nll.one_hot && pad && (*pad < 0 || *pad >= classes))
    return fmt::format("not fused: the pad id {} lies outside [0, {}): gather rejects it, "
                       "softmax_cross_entropy would drop it",
                       *pad, classes);
  return "";
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
    if (!match::same(m, mask))
      return nullptr;
    std::string why;
    auto pt = matchPerToken(per, why);
    // One loss term per label, each counted once: no broadcasting anywhere in the mean.
    if (pt &&
        (per->type.shape != pt->nll.labels->type.shape || mask->type.shape != per->type.shape))
      pt.reset();
    if (!pt) {
      r.missed(div.loc, why.empty()
                            ? "not fused: a masked mean, but not of -log softmax(logits)[label]"
                            : why);
      return nullptr;
    }
    auto pad = padOf(mask, pt->nll.labels);
    if (!pad) {
      r.missed(div.loc, "not fused: the mask is not labels != a constant pad id");
      return nullptr;
    }
    if (std::string bad = labelsMismatch(pt->nll, pad); !bad.empty()) {
      r.missed(div.loc, bad);
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
  std::string why;
  auto pt = matchPerToken(mean.operands[0], why);
  if (!pt && !why.empty())
    r.missed(mean.loc, why);
  if (!pt || mean.operands[0]->type.shape != pt->nll.labels->type.shape)
    return nullptr;
  if (std::string bad = labelsMismatch(pt->nll, std::nullopt); !bad.empty()) {
    r.missed(mean.loc, bad);
    return nullptr;
  }
  return create(r, *pt, kNoLabel, mean.result());
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
