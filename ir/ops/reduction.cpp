// Reductions over a list of axes, with keepdims: reduce_sum, reduce_max, reduce_mean.

#include "ir/ops/ops.h"

#include <cmath>
#include <limits>

namespace kiln {
namespace {

std::vector<TensorType> inferReduce(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  if (x.dtype == DType::boolean)
    ctx.error("operand must be numeric, found {}", x.str());
  auto axes = ops::normalizeAxes(ctx, ctx.getInts("axes"), x.rank());
  return {TensorType{x.dtype, ops::reducedShape(x.shape, axes, ctx.getBool("keepdims"))}};
}

std::vector<TensorType> inferReduceMax(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  auto axes = ops::normalizeAxes(ctx, ctx.getInts("axes"), x.rank());
  for (int64_t a : axes)
    if (x.shape[a] == 0)
      ctx.error("cannot take the maximum over axis {} of size 0 in {}", a, x.str());
  return inferReduce(ctx);
}

std::vector<int64_t> axesOf(const Node &n, int64_t rank) {
  std::vector<int64_t> axes;
  for (int64_t a : n.getInts("axes"))
    axes.push_back(*normalizeAxis(a, rank));
  std::sort(axes.begin(), axes.end());
  return axes;
}

std::vector<Literal> sumKernel(const Node &n, std::span<const Literal *const> in) {
  return {ops::reduce(*in[0], axesOf(n, in[0]->type.rank()), n.getBool("keepdims"), 0.0,
                      [](double a, double b) { return a + b; }, in[0]->type.dtype)};
}

std::vector<Literal> maxKernel(const Node &n, std::span<const Literal *const> in) {
  return {ops::reduce(*in[0], axesOf(n, in[0]->type.rank()), n.getBool("keepdims"),
                      -std::numeric_limits<double>::infinity(),
                      [](double a, double b) { return std::isnan(b) || b > a ? b : a; },
                      in[0]->type.dtype)};
}

std::vector<Literal> meanKernel(const Node &n, std::span<const Literal *const> in) {
  auto axes = axesOf(n, in[0]->type.rank());
  Literal out = ops::reduce(*in[0], axes, n.getBool("keepdims"), 0.0,
                            [](double a, double b) { return a + b; }, in[0]->type.dtype);
  int64_t count = 1;
  for (int64_t a : axes)
    count *= in[0]->shape()[a];
  for (double &v : out.data)
    v /= static_cast<double>(count);
  return {out};
}

OpDef reduction(std::string_view name, std::string_view summary, InferFn infer, ReferenceFn ref) {
  return OpDef{.name = name,
               .summary = summary,
               .min_operands = 1,
               .max_operands = 1,
               .attrs = {{"axes", AttrKind::Ints}, {"keepdims", AttrKind::Bool, Attribute(false)}},
               .infer = infer,
               .reference = ref};
}

} // namespace

void addReductionOps(std::vector<OpDef> &ops) {
  ops.push_back(reduction("reduce_sum", "sum over axes", inferReduce, sumKernel));
  ops.push_back(reduction("reduce_max", "maximum over axes", inferReduceMax, maxKernel));
  ops.push_back(reduction("reduce_mean", "mean over axes", inferReduce, meanKernel));
}

} // namespace kiln
