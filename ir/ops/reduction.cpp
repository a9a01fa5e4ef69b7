// Reductions over a list of axes, with keepdims: reduce_sum, reduce_max, reduce_mean.

#include "ir/ops/ops.h"

#include <algorithm>
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
  return {ops::reduce(
      *in[0], axesOf(n, in[0]->type.rank()), n.getBool("keepdims"), 0.0,
      [](double a, double b) { return a + b; }, in[0]->type.dtype)};
}

std::vector<Literal> maxKernel(const Node &n, std::span<const Literal *const> in) {
  return {ops::reduce(
      *in[0], axesOf(n, in[0]->type.rank()), n.getBool("keepdims"),
      -std::numeric_limits<double>::infinity(),
      [](double a, double b) { return std::isnan(b) || b > a ? b : a; }, in[0]->type.dtype)};
}

std::vector<Literal> meanKernel(const Node &n, std::span<const Literal *const> in) {
  auto axes = axesOf(n, in[0]->type.rank());
  Literal out = ops::reduce(
      *in[0], axes, n.getBool("keepdims"), 0.0, [](double a, double b) { return a + b; },
      in[0]->type.dtype);
  int64_t count = 1;
  for (int64_t a : axes)
    count *= in[0]->shape()[a];
  for (double &v : out.data)
    v /= static_cast<double>(count);
  return {out};
}

// ---- VJPs ------------------------------------------------------------------------------------

/// The cotangent reshaped to keep the reduced axes, then broadcast back over them.
Value *spread(const ops::Emit &e, const Node &n, Value *g) {
  const TensorType &x = n.operands[0]->type;
  Shape kept = ops::reducedShape(x.shape, axesOf(n, x.rank()), true);
  return e.broadcastTo(e.reshape(g, kept), x.shape);
}

std::vector<Value *> sumVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  return {spread(ops::Emit{b}, n, g[0])};
}

std::vector<Value *> meanVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  ops::Emit e{b};
  double count = static_cast<double>(n.operands[0]->type.numElements()) /
                 static_cast<double>(std::max<int64_t>(n.result()->type.numElements(), 1));
  return {spread(e, n, e.div(g[0], e.scalar(g[0], count)))};
}

/// The gradient goes to the maxima, split evenly among ties (as PyTorch's amax).
std::vector<Value *> maxVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  ops::Emit e{b};
  Value *x = n.operands[0];
  Value *hit = e.cast(b.create(op::Eq, {x, spread(e, n, n.result())}), x->type.dtype);
  Value *ties = b.create(op::ReduceSum, {hit},
                         {{"axes", n.getInts("axes")}, {"keepdims", n.getBool("keepdims")}});
  return {e.mul(hit, spread(e, n, e.div(g[0], ties)))};
}

OpDef reduction(OpHandle op, std::string_view summary, InferFn infer, ReferenceFn ref, VjpFn vjp,
                std::vector<OpSample> samples) {
  return OpDef{.name = op.name,
               .summary = summary,
               .min_operands = 1,
               .max_operands = 1,
               .attrs = {{"axes", AttrKind::Ints}, {"keepdims", AttrKind::Bool, Attribute(false)}},
               .infer = infer,
               .reference = ref,
               .differentiable = Differentiable::Yes,
               .vjp = vjp,
               .samples = std::move(samples)};
}

/// A reduction sample over %a; sums accumulate rounding errors, maxima do not.
OpSample reduceSample(std::string_view a, std::string_view node, bool accumulates) {
  return OpSample{
      .inputs = {fmt::format("%a: {}", a)}, .node = std::string(node), .accumulates = accumulates};
}

} // namespace

void addReductionOps(std::vector<OpDef> &ops) {
  ops.push_back(reduction(
      op::ReduceSum, "sum over axes", inferReduce, sumKernel, sumVjp,
      // Rows summed into columns (a bias's gradient, blocks of columns on the CPU), a row
      // reduction, an f64 one over two separate axes, and integers.
      {reduceSample("f32[3,5,40]", "reduce_sum(%a) {axes = [0, 1]} : f32[40]", true),
       reduceSample("f32[2,3]", "reduce_sum(%a) {axes = [1], keepdims = true} : f32[2,1]", true),
       reduceSample("f64[2,3,4]", "reduce_sum(%a) {axes = [0, -1]} : f64[3]", true),
       reduceSample("i32[2,7,24]", "reduce_sum(%a) {axes = [1], keepdims = true} : i32[2,1,24]",
                    true)}));
  ops.push_back(reduction(
      op::ReduceMax, "maximum over axes", inferReduceMax, maxKernel, maxVjp,
      {reduceSample("f32[6,17]", "reduce_max(%a) {axes = [0], keepdims = true} : f32[1,17]", false),
       reduceSample("f32[2,3,4]", "reduce_max(%a) {axes = [1, 2]} : f32[2]", false),
       reduceSample("i64[2,3]", "reduce_max(%a) {axes = [1]} : i64[2]", false),
       reduceSample("f64[5]", "reduce_max(%a) {axes = [0], keepdims = true} : f64[1]", false)}));
  ops.push_back(reduction(
      op::ReduceMean, "mean over axes", inferReduce, meanKernel, meanVjp,
      {reduceSample("f32[2,3]", "reduce_mean(%a) {axes = [-1]} : f32[2]", true),
       reduceSample("f32[2,3,4]", "reduce_mean(%a) {axes = [0, 1], keepdims = true} : f32[1,1,4]",
                    true),
       reduceSample("f64[5]", "reduce_mean(%a) {axes = [0]} : f64[]", true),
       reduceSample("bf16[2,8]", "reduce_mean(%a) {axes = [1]} : bf16[2]", true)}));
}

} // namespace kiln
