// Canonicalization: constant folding (in the constants' declared dtypes, as a run without --f64
// computes them), algebraic identities, and chains of reshape, transpose,
// broadcast_to and cast collapsed. Every rule keeps values bit for bit, NaN and infinities
// included, except that x + 0 returns x where IEEE arithmetic would turn a -0 into +0
// (-0 + +0 is +0). x - 0 is exact (-0 - +0 is -0), so it is rewritten only for a +0.

#include "passes/rewrite.h"

#include <algorithm>
#include <cmath>

namespace kiln {
namespace {

/// Results larger than this are not folded: the constant would bloat the IR.
constexpr int64_t kMaxFoldedElements = 1024;

bool isConstant(const Value *v) { return v->def && v->def->is(op::Constant); }

Value *foldConstants(Node &n, Rewriter &r) {
  Builder &b = r.b;
  if (n.operands.empty() || n.is(op::RandomUniform) ||
      n.result()->type.numElements() > kMaxFoldedElements)
    return nullptr;
  if (!std::all_of(n.operands.begin(), n.operands.end(), isConstant))
    return nullptr;
  std::vector<Literal> args;
  for (const Value *v : n.operands) {
    // A constant's value is what the interpreter makes of it: rounded to its dtype.
    Literal arg = v->def->op->reference(*v->def, {})[0];
    arg.type = v->type;
    arg.roundToDType();
    args.push_back(std::move(arg));
  }
  std::vector<const Literal *> ptrs;
  for (const Literal &l : args)
    ptrs.push_back(&l);
  Literal folded = n.op->reference(n, ptrs)[0];
  folded.type = n.result()->type;
  folded.roundToDType();
  return b.constant(std::move(folded.data), folded.type.dtype, folded.type.shape);
}

/// x when x already has the root's type (so dropping the op changes nothing).
Value *sameType(Node &n, Value *x) { return x->type == n.result()->type ? x : nullptr; }

/// The value of every element of `v` when it is a splat constant, seen through the broadcasts
/// and reshapes that only copy it (a broadcast too large to fold stays a broadcast).
std::optional<double> splatThrough(const Value *v) {
  while (v->def && (v->def->is(op::BroadcastTo) || v->def->is(op::Reshape)))
    v = v->def->operands[0];
  return splatValue(v);
}

/// The other operand of a binary node when one operand is a splat of `value` (the second, or
/// either when the op commutes).
Value *identityOperand(Node &n, double value, bool commutes) {
  if (splatThrough(n.operands[1]) == value)
    return sameType(n, n.operands[0]);
  if (commutes && splatThrough(n.operands[0]) == value)
    return sameType(n, n.operands[1]);
  return nullptr;
}

Value *addZero(Node &n, Rewriter &) { return identityOperand(n, 0.0, true); }

/// x - (+0) is x; x - (-0) is x + 0, which turns a -0 into +0, and 0 - x is not x.
Value *subZero(Node &n, Rewriter &) {
  std::optional<double> zero = splatThrough(n.operands[1]);
  return zero == 0.0 && !std::signbit(*zero) ? sameType(n, n.operands[0]) : nullptr;
}

Value *mulOne(Node &n, Rewriter &) { return identityOperand(n, 1.0, true); }
Value *divOne(Node &n, Rewriter &) { return identityOperand(n, 1.0, false); }
Value *powOne(Node &n, Rewriter &) { return identityOperand(n, 1.0, false); }

/// max(x, x) and min(x, x) are x, NaN included (either operand is returned whole).
Value *sameOperands(Node &n, Rewriter &) {
  return n.operands[0] == n.operands[1] ? sameType(n, n.operands[0]) : nullptr;
}

Value *negNeg(Node &n, Rewriter &) {
  Value *x = n.operands[0];
  return x->def && x->def->is(op::Neg) ? x->def->operands[0] : nullptr;
}

Value *reshapeChain(Node &n, Rewriter &r) {
  Builder &b = r.b;
  Value *x = n.operands[0];
  if (x->type.shape == n.result()->type.shape)
    return x;
  if (x->def && x->def->is(op::Reshape))
    return b.create(op::Reshape, {x->def->operands[0]}, {{"shape", n.getInts("shape")}});
  return nullptr;
}

Value *transposeChain(Node &n, Rewriter &r) {
  Builder &b = r.b;
  const IntList &perm = n.getInts("perm");
  Value *x = n.operands[0];
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity &= perm[i] == static_cast<int64_t>(i);
  if (identity)
    return x;
  if (!x->def || !x->def->is(op::Transpose))
    return nullptr;
  // transpose(transpose(y, p1), p2) reads y's axis p1[p2[i]] at result axis i.
  const IntList &inner = x->def->getInts("perm");
  IntList composed;
  for (int64_t p : perm)
    composed.push_back(inner[p]);
  return b.create(op::Transpose, {x->def->operands[0]}, {{"perm", composed}});
}

Value *broadcastSame(Node &n, Rewriter &) { return sameType(n, n.operands[0]); }
Value *castSame(Node &n, Rewriter &) { return sameType(n, n.operands[0]); }

Value *sliceFull(Node &n, Rewriter &) { return sameType(n, n.operands[0]); }

const RewritePattern kPatterns[] = {
    {"constants folded", std::nullopt, foldConstants},
    {"x + 0", op::Add, addZero},
    {"x - 0", op::Sub, subZero},
    {"x * 1", op::Mul, mulOne},
    {"x / 1", op::Div, divOne},
    {"x ^ 1", op::Pow, powOne},
    {"max(x, x)", op::Max, sameOperands},
    {"min(x, x)", op::Min, sameOperands},
    {"-(-x)", op::Neg, negNeg},
    {"reshape chains", op::Reshape, reshapeChain},
    {"transpose chains", op::Transpose, transposeChain},
    {"no-op broadcast_to", op::BroadcastTo, broadcastSame},
    {"no-op cast", op::Cast, castSame},
    {"full slice", op::Slice, sliceFull},
};

} // namespace

std::unique_ptr<Pass> createCanonicalizePass(const PassOptions &) {
  return createPatternPass("canonicalize", kPatterns);
}

} // namespace kiln
