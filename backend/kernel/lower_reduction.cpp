// Reductions over any axes: reduce_sum, reduce_max, reduce_mean. The input's axes are
// collapsed into runs of kept and reduced ones; the output elements are the parallel (and
// serial) loops, each with an accumulator updated by reduction loops. Sums of i32 accumulate
// in i64 and saturate once at the end, as the reference sums in doubles.

#include "backend/kernel/lowerings.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::kernel {
namespace {

/// Input axes merged into runs that are all kept or all reduced; size-1 axes dropped.
struct ReducedView {
  Shape in;
  std::vector<bool> reduced;
};

ReducedView collapse(const Shape &shape, const std::vector<int64_t> &axes) {
  ReducedView v;
  bool empty = numElements(shape) == 0;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (shape[d] == 1 && !empty)
      continue;
    bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!v.in.empty() && v.reduced.back() == r && !empty) {
      v.in.back() *= shape[d];
    } else {
      v.in.push_back(shape[d]);
      v.reduced.push_back(r);
    }
  }
  return v;
}

/// The width of the column blocks of a column reduction over `columns`: the largest divisor
/// of `columns` up to 64 that leaves at least two blocks, a multiple of 16 where one divides.
int64_t blockWidth(int64_t columns) {
  int64_t most = std::min<int64_t>(64, std::max<int64_t>(1, columns / 2)), best = 1;
  for (int64_t w = most; w >= 1; --w)
    if (columns % w == 0) {
      if (w % 16 == 0)
        return w;
      best = std::max(best, w);
    }
  return best;
}

/// A reduction over the rows of [rows, columns] (or of each [k] of [kept, rows, columns]):
/// each group takes a block of contiguous columns, each of its workers one column of the block
/// with its accumulator in a local buffer, and the group adds the rows in order, all workers in
/// step. On the CPU the workers of a row are one loop along memory, which vectorises; reading
/// one column at a time down the rows instead strides by a whole row per element.
Kernel lowerColumnReduce(const Node &n, const ReducedView &v) {
  Kernel k = kernelFor(n);
  bool outer = v.in.size() == 3;
  int64_t kept = outer ? v.in[0] : 1, rows = v.in[v.in.size() - 2], columns = v.in.back();
  setView(k, 0, {kept, rows, columns});
  setView(k, 1, {kept, columns});
  ReductionScalar rs = *reductionScalar(n);
  int64_t width = blockWidth(columns), blocks = columns / width;
  int acc = k.addBuffer("acc", storageType(rs.acc_type), {width}, Role::Local);
  int g = k.addVar("g", ScalarType::index), r = k.addVar("r", ScalarType::index);
  Block group;
  auto bind = [&](std::string_view name, Expr value) {
    int var = k.addVar(name, ScalarType::index);
    group.push_back(let(var, std::move(value)));
    return varRef(k, var);
  };
  Expr kb = bind("k", div(varRef(k, g), intConst(blocks)));
  Expr c0 = bind("c0", mul(binary(BinaryOp::Rem, varRef(k, g), intConst(blocks)), intConst(width)));
  auto columnsLoop = [&](auto body) {
    int c = k.addVar("c", ScalarType::index);
    return loop(c, LoopKind::Worker, width, body(varRef(k, c)));
  };
  group.push_back(columnsLoop([&](Expr c) { return Block{store(acc, {c}, rs.init)}; }));
  group.push_back(Stmt{Barrier{}});
  group.push_back(loop(r, LoopKind::Serial, rows, {columnsLoop([&](Expr c) {
                         Expr x = load(k, 0, {kb, varRef(k, r), add(c0, c)});
                         return Block{store(acc, {c}, rs.update(load(k, acc, {c}), x))};
                       })}));
  group.push_back(Stmt{Barrier{}});
  group.push_back(columnsLoop([&](Expr c) {
    return Block{store(1, {kb, add(c0, c)}, rs.result(load(k, acc, {c}), n.result()->type.dtype))};
  }));
  k.body.push_back(loop(g, LoopKind::Group, kept * blocks, std::move(group)));
  return k;
}

std::optional<Kernel> lowerReduce(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  std::vector<int64_t> axes;
  for (int64_t a : n.getInts("axes"))
    axes.push_back(*normalizeAxis(a, x.rank()));
  ReducedView v = collapse(x.shape, axes);
  // Rows summed into contiguous columns: [rows, columns] or [kept, rows, columns].
  const std::vector<bool> &r = v.reduced;
  bool columns =
      (r == std::vector<bool>{true, false} || r == std::vector<bool>{false, true, false});
  if (columns && x.numElements() > 0 && v.in.back() >= 8)
    return lowerColumnReduce(n, v);
  Kernel k = kernelFor(n);
  Shape kept, red;
  for (size_t d = 0; d < v.in.size(); ++d)
    (v.reduced[d] ? red : kept).push_back(v.in[d]);
  setView(k, 0, v.in);
  setView(k, 1, kept);

  ReductionScalar rs = *reductionScalar(n);
  LoopNest outer = LoopNest::make(k, kept);
  LoopNest inner = LoopNest::make(k, red, LoopKind::Reduction, LoopKind::Reduction);
  std::vector<Expr> ko = outer.indices(k), ri = inner.indices(k), idx;
  for (size_t d = 0, a = 0, b = 0; d < v.in.size(); ++d)
    idx.push_back(v.reduced[d] ? ri[b++] : ko[a++]);
  int acc = k.addVar("acc", rs.acc_type, true);
  Expr cur = varRef(k, acc);
  Block body;
  body.push_back(accumulator(acc, rs.init));
  for (Stmt &s : inner.wrap({assign(acc, rs.update(cur, load(k, 0, idx)))}))
    body.push_back(std::move(s));
  body.push_back(store(1, ko, rs.result(cur, n.result()->type.dtype)));
  k.body = outer.wrap(std::move(body));
  return k;
}

} // namespace

std::optional<ReductionScalar> reductionScalar(const Node &n) {
  ReductionScalar rs;
  if (n.is(op::ReduceSum))
    rs.kind = ReductionScalar::Sum;
  else if (n.is(op::ReduceMax))
    rs.kind = ReductionScalar::Max;
  else if (n.is(op::ReduceMean))
    rs.kind = ReductionScalar::Mean;
  else
    return std::nullopt;
  const TensorType &x = n.operands[0]->type;
  for (int64_t a : n.getInts("axes"))
    rs.count *= x.shape[*normalizeAxis(a, x.rank())];
  ScalarType elem = computeType(x.dtype);
  // i32 sums accumulate in i64 so that only the final value saturates.
  bool max = rs.kind == ReductionScalar::Max;
  rs.acc_type = elem == ScalarType::i32 && !max ? ScalarType::i64 : elem;
  if (max)
    rs.init = isFloat(rs.acc_type)
                  ? constant(-std::numeric_limits<double>::infinity(), rs.acc_type)
                  : intConst(rs.acc_type == ScalarType::i32 ? INT32_MIN : INT64_MIN, rs.acc_type);
  else
    rs.init = isFloat(rs.acc_type) ? constant(0, rs.acc_type) : intConst(0, rs.acc_type);
  return rs;
}

Expr ReductionScalar::update(const Expr &acc, const Expr &elem) const {
  Expr e = cast(elem, acc_type);
  if (kind != Max)
    return add(acc, e);
  if (!isFloat(acc_type))
    return binary(BinaryOp::Max, acc, e);
  // The reference keeps a NaN once it has seen one.
  return select(binary(BinaryOp::Or, binary(BinaryOp::Ne, e, e), binary(BinaryOp::Gt, e, acc)), e,
                acc);
}

Expr ReductionScalar::result(const Expr &acc, DType dtype) const {
  Expr r = acc;
  if (kind == Mean)
    r = div(r, isFloat(acc_type) ? constant(static_cast<double>(count), acc_type)
                                 : intConst(count, acc_type));
  return cast(r, computeType(dtype));
}

void addReductionLowerings(LoweringTable &t) {
  addLowering(t, op::ReduceSum, lowerReduce);
  addLowering(t, op::ReduceMax, lowerReduce);
  addLowering(t, op::ReduceMean, lowerReduce);
}

} // namespace kiln::kernel
