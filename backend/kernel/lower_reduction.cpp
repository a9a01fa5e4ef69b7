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

enum class Kind { Sum, Max, Mean };

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

template <Kind K> std::optional<Kernel> lowerReduce(const Node &n) {
  const TensorType &x = n.operands[0]->type;
  std::vector<int64_t> axes;
  for (int64_t a : n.getInts("axes"))
    axes.push_back(*normalizeAxis(a, x.rank()));
  Kernel k = kernelFor(n);
  ReducedView v = collapse(x.shape, axes);
  Shape kept, red;
  int64_t count = 1;
  for (size_t d = 0; d < v.in.size(); ++d)
    (v.reduced[d] ? red : kept).push_back(v.in[d]);
  for (int64_t a : axes)
    count *= x.shape[a];
  setView(k, 0, v.in);
  setView(k, 1, kept);

  ScalarType elem = computeType(x.dtype);
  // i32 sums accumulate in i64 so that only the final value saturates.
  ScalarType acc_type = elem == ScalarType::i32 && K != Kind::Max ? ScalarType::i64 : elem;
  Expr init;
  if (K == Kind::Max)
    init = isFloat(acc_type)
               ? constant(-std::numeric_limits<double>::infinity(), acc_type)
               : intConst(acc_type == ScalarType::i32 ? INT32_MIN : INT64_MIN, acc_type);
  else
    init = isFloat(acc_type) ? constant(0, acc_type) : intConst(0, acc_type);

  LoopNest outer = LoopNest::make(k, kept);
  LoopNest inner = LoopNest::make(k, red, LoopKind::Reduction, LoopKind::Reduction);
  std::vector<Expr> ko = outer.indices(k), ri = inner.indices(k), idx;
  for (size_t d = 0, a = 0, b = 0; d < v.in.size(); ++d)
    idx.push_back(v.reduced[d] ? ri[b++] : ko[a++]);
  int acc = k.addVar("acc", acc_type, true);
  Expr elem_value = cast(load(k, 0, idx), acc_type);
  Expr cur = varRef(k, acc);
  Expr update;
  if (K == Kind::Max && isFloat(acc_type))
    // The reference keeps a NaN once it has seen one.
    update = select(binary(BinaryOp::Or, binary(BinaryOp::Ne, elem_value, elem_value),
                           binary(BinaryOp::Gt, elem_value, cur)),
                    elem_value, cur);
  else if (K == Kind::Max)
    update = binary(BinaryOp::Max, cur, elem_value);
  else
    update = add(cur, elem_value);
  Expr result = varRef(k, acc);
  if (K == Kind::Mean) {
    Expr c = isFloat(acc_type) ? constant(static_cast<double>(count), acc_type)
                               : intConst(count, acc_type);
    result = div(result, c);
  }
  Block body;
  body.push_back(accumulator(acc, init));
  for (Stmt &s : inner.wrap({assign(acc, update)}))
    body.push_back(std::move(s));
  body.push_back(store(1, ko, cast(result, computeType(n.result()->type.dtype))));
  k.body = outer.wrap(std::move(body));
  return k;
}

} // namespace

void addReductionLowerings(LoweringTable &t) {
  addLowering(t, "reduce_sum", lowerReduce<Kind::Sum>);
  addLowering(t, "reduce_max", lowerReduce<Kind::Max>);
  addLowering(t, "reduce_mean", lowerReduce<Kind::Mean>);
}

} // namespace kiln::kernel
