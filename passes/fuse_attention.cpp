// fuse-attention: finds scaled dot-product attention and replaces it with the attention op.
//
//   matmul(softmax(s * matmul(q, k^T) + mask), v)  -> attention(q, k, v, mask) {scale = s}
//
// k^T is a transpose of the last two axes, the matmul's transpose_b, or a key that arrives
// transposed ([..., d, Tk], which gets a transpose back); the scale is a constant
// multiplying or dividing the scores, q or k; the mask is added (a float tensor, -inf or large
// negative where masked) or applied by select. A causal mask built from iota and a comparison
// becomes the causal flag. Dropout on the probabilities, written as
// select(random_uniform(seed) >= p, probs * (1 / (1 - p)), 0), becomes the op's dropout.
// Run fuse-softmax first.

#include "passes/match.h"
#include "passes/rewrite.h"

#include <cmath>
#include <unordered_set>

namespace kiln {
namespace {

/// Peels constant factors: v = c * y, y * c or y / c; multiplies them into scale.
Value *peelScale(Value *v, double &scale) {
  while (true) {
    if (Node *mul = match::def(v, op::Mul)) {
      Value *rest = match::commuted(*mul, [&](Value *y, Value *c) -> Value * {
        auto s = match::splat(c);
        return s && c->type.rank() == 0 ? (scale *= *s, y) : nullptr;
      });
      if (rest) {
        v = rest;
        continue;
      }
    }
    if (Node *div = match::def(v, op::Div))
      if (auto s = match::splat(div->operands[1]);
          s && div->operands[1]->type.rank() == 0 && *s != 0) {
        scale /= *s;
        v = div->operands[0];
        continue;
      }
    return v;
  }
}

/// k when kt is k with its last two axes swapped: the operand of a transpose (a new transpose
/// when kt is a composed one), or else a new transpose of kt, a key that arrives transposed.
Value *untranspose(Rewriter &r, Value *kt) {
  size_t n = static_cast<size_t>(kt->type.rank());
  if (n < 2)
    return nullptr;
  Node *t = match::def(kt, op::Transpose);
  IntList perm(n);
  for (size_t i = 0; i < n; ++i)
    perm[i] = t ? t->getInts("perm")[i] : static_cast<int64_t>(i);
  std::swap(perm[n - 1], perm[n - 2]);
  if (!t)
    return r.b.create(op::Transpose, {kt}, {{"perm", perm}});
  bool identity = true;
  for (size_t i = 0; i < n; ++i)
    identity &= perm[i] == static_cast<int64_t>(i);
  return identity ? t->operands[0] : r.b.create(op::Transpose, {t->operands[0]}, {{"perm", perm}});
}

struct Scores {
  Value *q = nullptr, *k = nullptr;
  double scale = 1.0;
};

/// q, k and the scale of s * matmul(q, k^T) (scale factors anywhere on the chain).
std::optional<Scores> matchScores(Rewriter &r, Value *v) {
  Scores s;
  Value *core = peelScale(v, s.scale);
  Node *mm = match::def(core, op::Matmul);
  if (!mm || mm->getBool("transpose_a"))
    return std::nullopt;
  s.q = peelScale(mm->operands[0], s.scale);
  Value *kt = peelScale(mm->operands[1], s.scale);
  s.k = mm->getBool("transpose_b") ? kt : untranspose(r, kt);
  if (!s.k)
    return std::nullopt;
  s.k = peelScale(s.k, s.scale);
  return s;
}

/// Whether c, added to the scores, is a causal mask: select(key > query, -inf, 0) over iotas of
/// the scores' [Tq, Tk] (a [1, 1] one broadcasts zeros, no causal mask).
bool isCausal(const Value *c, const Value *scores) {
  Node *sel = match::def(c, op::Select);
  const Shape &s = scores->type.shape;
  if (!sel || c->type.rank() != 2 || s.size() < 2 || c->type.shape[0] != s[s.size() - 2] ||
      c->type.shape[1] != s.back() || c->type.shape[0] != c->type.shape[1])
    return false;
  Node *cmp = sel->operands[0]->def;
  if (!cmp || cmp->results.size() != 1)
    return false;
  // Both iotas must span the whole [T, T]: an iota over a size-1 axis is all zeros.
  auto iotaAxis = [&](const Value *v) -> int64_t {
    Node *n = match::def(v, op::Iota);
    return n && v->type.shape == c->type.shape ? *normalizeAxis(n->getInt("axis"), v->type.rank())
                                               : -1;
  };
  int64_t a = iotaAxis(cmp->operands[0]), b = iotaAxis(cmp->operands[1]);
  // "key > query": key is the iota along axis 1, query along axis 0.
  bool key_after = (cmp->is(op::Gt) && a == 1 && b == 0) || (cmp->is(op::Lt) && a == 0 && b == 1);
  bool key_not_after =
      (cmp->is(op::Le) && a == 1 && b == 0) || (cmp->is(op::Ge) && a == 0 && b == 1);
  auto masked = match::splat(sel->operands[key_after ? 1 : 2]),
       kept = match::splat(sel->operands[key_after ? 2 : 1]);
  // Only -inf: the op's causal flag hides keys completely, as -inf does and -1e9 does not.
  return (key_after || key_not_after) && masked == -INFINITY && kept == 0.0;
}

/// A parameter or state input that v depends on, or nullptr. The op gives its mask no
/// gradient, so a mask computed from weights (a learned bias) must stay outside.
const GraphInput *floatInputBehind(const Graph &g, const Value *v) {
  return match::inputBehind(g, v, [](const GraphInput &in) { return in.kind != InputKind::Data; });
}

struct Masked {
  Value *scores;
  Value *mask = nullptr; ///< additive or boolean (true = masked), or null
  bool causal = false;
};

/// Splits s into the scores and the mask applied to them.
std::optional<Masked> matchMask(Rewriter &r, Value *s, std::optional<Scores> &scores) {
  if (Node *add = match::def(s, op::Add)) {
    return match::commuted(*add, [&](Value *core, Value *mask) -> std::optional<Masked> {
      if (!(scores = matchScores(r, core)))
        return std::nullopt;
      Masked m{core};
      if (isCausal(mask, core)) {
        m.causal = true;
      } else if (Node *both = match::def(mask, op::Add);
                 both && (isCausal(both->operands[0], core) || isCausal(both->operands[1], core))) {
        m.causal = true;
        m.mask = isCausal(both->operands[0], core) ? both->operands[1] : both->operands[0];
      } else {
        m.mask = mask;
      }
      return m;
    });
  }
  if (Node *sel = match::def(s, op::Select)) {
    // select(keep, scores, -inf) or select(masked, -inf, scores).
    for (int side : {1, 2}) {
      // Only -inf: a finite fill gives a fully masked row uniform weights, the op gives NaN.
      auto fill = match::splat(sel->operands[side == 1 ? 2 : 1]);
      if (!fill || *fill != -INFINITY || !(scores = matchScores(r, sel->operands[side])))
        continue;
      Value *cond = sel->operands[0];
      return Masked{sel->operands[side], side == 1 ? r.b.create(op::Not, {cond}) : cond, false};
    }
    return std::nullopt;
  }
  if ((scores = matchScores(r, s)))
    return Masked{s};
  return std::nullopt;
}

/// Why the softmax's operand s is not (scaled) q k^T plus a mask, for the remark.
std::string whyNotScores(const Value *s) {
  auto scalarConstant = [](const Value *c) { return match::splat(c) && c->type.rank() == 0; };
  if (Node *sel = match::def(s, op::Select))
    for (int side : {1, 2})
      if (auto fill = match::splat(sel->operands[side]); fill && *fill != -INFINITY)
        return fmt::format("not fused: the select fills masked scores with {}, not -inf: a row "
                           "masked everywhere would get uniform weights, where the op gives NaN",
                           floatStr(*fill));
  std::vector<const Value *> candidates = {s};
  if (Node *add = match::def(s, op::Add))
    candidates = {add->operands[0], add->operands[1]};
  for (const Value *c : candidates) {
    Node *n = c->def;
    if (!n || !(n->is(op::Mul) || n->is(op::Div)))
      continue;
    bool by_matmul = match::def(n->operands[0], op::Matmul) ||
                     (n->is(op::Mul) && match::def(n->operands[1], op::Matmul));
    bool constant = n->is(op::Div)
                        ? scalarConstant(n->operands[1])
                        : scalarConstant(n->operands[0]) || scalarConstant(n->operands[1]);
    if (by_matmul && !constant)
      return "not fused: the scores are scaled by a value that is not a scalar constant";
  }
  return "not fused: the softmax does not read (scaled) q k^T, optionally plus a mask";
}

struct Dropout {
  Value *probs;
  const Node *reader = nullptr; ///< the node of the dropout that reads the probabilities
  Value *seed = nullptr;
  double rate = 0;
  int64_t offset = 0;
};

/// Sees through dropout of the probabilities: select(u >= p, probs * (1 / (1 - p)), 0) with
/// u = random_uniform(seed) over the probabilities' shape.
Dropout peelDropout(Value *v) {
  Node *sel = match::def(v, op::Select);
  if (!sel || match::splat(sel->operands[2]) != 0.0)
    return {v};
  Node *ge = match::def(sel->operands[0], op::Ge);
  Node *u = ge ? match::def(ge->operands[0], op::RandomUniform) : nullptr;
  Node *mul = match::def(sel->operands[1], op::Mul);
  if (!u || !mul || u->result()->type != v->type)
    return {v};
  double rate = match::splat(ge->operands[1]).value_or(0.0);
  auto scaled =
      match::commuted(*mul, [](Value *y, Value *c) -> std::optional<std::pair<Value *, double>> {
        auto s = match::splat(c);
        return s && c->type.rank() == 0 ? std::optional(std::pair{y, *s}) : std::nullopt;
      });
  // The op scales kept probabilities by exactly 1 / (1 - p), as the DSL writes it.
  if (rate <= 0 || rate >= 1 || !scaled || scaled->second != 1.0 / (1.0 - rate))
    return {v};
  return Dropout{scaled->first, sel->operands[1]->def, u->operands[0], rate, u->getInt("offset")};
}

Value *fuseAttention(Node &mm, Rewriter &r) {
  if (mm.getBool("transpose_a") || mm.getBool("transpose_b"))
    return nullptr;
  Dropout dropout = peelDropout(mm.operands[0]);
  Node *sm = match::def(dropout.probs, op::Softmax);
  if (!sm)
    return nullptr;
  Value *probs = sm->result(), *v = mm.operands[1];
  int64_t rank = probs->type.rank();
  if (*normalizeAxis(sm->getInt("axis"), rank) != rank - 1) {
    r.missed(mm.loc, fmt::format("not fused: softmax over axis {}; attention needs the last axis",
                                 sm->getInt("axis")));
    return nullptr;
  }
  const Node *reader = dropout.reader ? dropout.reader : &mm;
  if (!match::onlyUsedBy(r.graph, probs, {reader})) {
    r.missed(mm.loc, fmt::format("not fused: the probabilities are also used by {}",
                                 match::otherUser(r.graph, probs, {reader})));
    return nullptr;
  }
  std::optional<Scores> scores;
  auto masked = matchMask(r, sm->operands[0], scores);
  if (!masked || !scores) {
    r.missed(mm.loc, whyNotScores(sm->operands[0]));
    return nullptr;
  }
  if (!match::onlyUsedBy(r.graph, sm->operands[0], {sm})) {
    r.missed(mm.loc, fmt::format("not fused: the scores are also used by {}",
                                 match::otherUser(r.graph, sm->operands[0], {sm})));
    return nullptr;
  }
  if (masked->mask)
    if (const GraphInput *in = floatInputBehind(r.graph, masked->mask)) {
      r.missed(
          mm.loc,
          fmt::format("not fused: the mask depends on the {} input '%{}', and attention gives its "
                      "mask no gradient",
                      inputKindName(in->kind), in->name));
      return nullptr;
    }
  std::vector<Value *> operands = {scores->q, scores->k, v};
  if (masked->mask)
    operands.push_back(masked->mask);
  AttrMap attrs = {{"scale", scores->scale}, {"causal", masked->causal}};
  if (dropout.seed) {
    operands.push_back(dropout.seed);
    attrs["dropout"] = dropout.rate;
    attrs["dropout_offset"] = dropout.offset;
  }
  std::vector<TensorType> types;
  for (Value *o : operands)
    types.push_back(o->type);
  try {
    const OpDef &def = op::Attention.def();
    if (inferTypes(def, types, checkAttributes(def, attrs, mm.loc), mm.loc)[0] != mm.result()->type)
      return nullptr;
  } catch (const Error &e) {
    r.missed(mm.loc, "not fused: " + e.message());
    return nullptr;
  }
  return r.b.create(op::Attention, operands, attrs);
}

const RewritePattern kPatterns[] = {
    {"attentions", op::Matmul, fuseAttention},
};

} // namespace

std::unique_ptr<Pass> createFuseAttentionPass(const PassOptions &) {
  return createPatternPass("fuse-attention", kPatterns);
}

} // namespace kiln
