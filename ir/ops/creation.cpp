// Ops that create tensors: constant, iota and the counter-based random op.

#include "ir/ops/ops.h"
#include "ir/philox.h"

#include <cmath>
#include <limits>

namespace kiln {
namespace {

void requireValidShape(const InferContext &ctx, const IntList &shape) {
  for (int64_t d : shape)
    if (d < 0)
      ctx.error("shape {} has a negative dimension", shapeStr(shape));
  if (!validShape(shape))
    ctx.error("shape {} has more than 2^48 elements", shapeStr(shape));
}

std::vector<TensorType> inferConstant(const InferContext &ctx) {
  const IntList &shape = ctx.getInts("shape");
  requireValidShape(ctx, shape);
  const auto &value = std::get<FloatList>(ctx.attrs.at("value"));
  int64_t n = numElements(shape);
  if (value.size() != 1 && static_cast<int64_t>(value.size()) != n)
    ctx.error("value has {} elements; the shape attribute {} needs 1 (a splat) or {}", value.size(),
              shapeStr(shape), n);
  DType dt = ctx.getDType("dtype");
  // Values are read as doubles: an integer constant must be a whole number that both the
  // double and the dtype hold exactly, never silently rounded or clamped.
  double limit = dt == DType::i32 ? 2147483648.0 : static_cast<double>(kMaxExactInteger);
  if (isInteger(dt))
    for (size_t i = 0; i < value.size(); ++i)
      if (value[i] != std::trunc(value[i]) || value[i] >= limit ||
          value[i] < (dt == DType::i32 ? -limit : -limit + 1))
        ctx.error("value {} at element {} is not {} exactly{}", value[i], i,
                  dt == DType::i32 ? "an i32" : "an i64",
                  dt == DType::i64 ? " (constants hold integers below 2^53)" : "");
  if (dt == DType::boolean)
    for (size_t i = 0; i < value.size(); ++i)
      if (value[i] != 0 && value[i] != 1)
        ctx.error("value {} at element {} is not a bool (0 or 1)", value[i], i);
  // A finite value too large for a narrow float would become infinity. From 2^128 - 2^103 on,
  // it rounds to infinity as an f32 already, and converting it to float is not even defined.
  if (dt == DType::f32 || dt == DType::bf16)
    for (size_t i = 0; i < value.size(); ++i)
      if (std::isfinite(value[i]) &&
          (std::fabs(value[i]) >= 0x1p128 - 0x1p103 || !std::isfinite(roundTo(value[i], dt))))
        ctx.error("value {} at element {} is out of range for {} (largest magnitude {})", value[i],
                  i, dtypeName(dt),
                  dt == DType::f32 ? std::numeric_limits<float>::max() : 3.3895313892515355e38);
  return {TensorType{dt, shape}};
}

std::vector<Literal> constantKernel(const Node &n, std::span<const Literal *const>) {
  Literal out(ops::resultType(n));
  const FloatList &value = n.getFloats("value");
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = value.size() == 1 ? value[0] : value[i];
  return {out};
}

std::vector<TensorType> inferIota(const InferContext &ctx) {
  const IntList &shape = ctx.getInts("shape");
  requireValidShape(ctx, shape);
  ctx.axis(ctx.getInt("axis"), static_cast<int64_t>(shape.size()));
  DType dt = ctx.getDType("dtype");
  if (dt == DType::boolean)
    ctx.error("dtype must be numeric, found bool");
  return {TensorType{dt, shape}};
}

std::vector<Literal> iotaKernel(const Node &n, std::span<const Literal *const>) {
  Literal out(ops::resultType(n));
  int64_t axis = *normalizeAxis(n.getInt("axis"), out.type.rank());
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = static_cast<double>(ops::unflatten(i, out.shape())[axis]);
  return {out};
}

std::vector<TensorType> inferRandom(const InferContext &ctx) {
  ops::requireKey(ctx, 0, "the seed");
  const IntList &shape = ctx.getInts("shape");
  requireValidShape(ctx, shape);
  if (ctx.getInt("offset") < 0)
    ctx.error("offset must be non-negative, found {}", ctx.getInt("offset"));
  DType dt = ctx.getDType("dtype");
  if (!isFloat(dt))
    ctx.error("dtype must be floating-point, found {}", dtypeName(dt));
  return {TensorType{dt, shape}};
}

std::vector<Literal> randomKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(ops::resultType(n));
  PhiloxKey key = ops::keyOf(*in[0]);
  auto offset = static_cast<uint64_t>(n.getInt("offset"));
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = philoxUniform(key, offset + static_cast<uint64_t>(i));
  return {out};
}

} // namespace

void addCreationOps(std::vector<OpDef> &ops) {
  ops.push_back(
      OpDef{.name = op::Constant.name,
            .summary = "a tensor given by its elements, or one element repeated",
            .attrs = {{"dtype", AttrKind::DType, Attribute(DType::f32)},
                      {"shape", AttrKind::Ints, Attribute(IntList{})},
                      {"value", AttrKind::Floats}},
            .infer = inferConstant,
            .reference = constantKernel,
            .differentiable = Differentiable::No,
            .samples = {{{}, "constant() {shape = [2], value = [1.5, -2.0]} : f32[2]"},
                        {{}, "constant() {dtype = i32, shape = [2, 3], value = [7.0]} : i32[2,3]"},
                        {{},
                         "constant() {dtype = bool, shape = [3], value = [1.0, 0.0, 1.0]} : "
                         "bool[3]"},
                        {{}, "constant() {dtype = f64, value = [0.1]} : f64[]"}}});
  ops.push_back(OpDef{.name = op::Iota.name,
                      .summary = "each element's index along an axis",
                      .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{0})},
                                {"dtype", AttrKind::DType, Attribute(DType::i64)},
                                {"shape", AttrKind::Ints}},
                      .infer = inferIota,
                      .reference = iotaKernel,
                      .differentiable = Differentiable::No,
                      .samples = {{{}, "iota() {axis = 1, shape = [2, 3]} : i64[2,3]"},
                                  {{}, "iota() {dtype = f32, shape = [4]} : f32[4]"},
                                  {{},
                                   "iota() {axis = -1, dtype = i32, shape = [2, 3, 4]} : "
                                   "i32[2,3,4]"}}});
  ops.push_back(OpDef{.name = op::RandomUniform.name,
                      .summary = "uniform [0,1) numbers from Philox-4x32-10 under a key operand "
                                 "(i32[2]); element i uses counter offset + i",
                      .min_operands = 1,
                      .max_operands = 1,
                      .attrs = {{"dtype", AttrKind::DType, Attribute(DType::f32)},
                                {"offset", AttrKind::Int, Attribute(int64_t{0})},
                                {"shape", AttrKind::Ints}},
                      .infer = inferRandom,
                      .reference = randomKernel,
                      .differentiable = Differentiable::No,
                      // Keys over all 32 bits of both words: the high bit included.
                      .samples = {{{"%s: i32[2]"},
                                   "random_uniform(%s) {offset = 7, shape = [3, 2]} : f32[3,2]",
                                   {{"%s", -2147483648.0, 2147483648.0}}},
                                  {{"%s: i32[2]"},
                                   "random_uniform(%s) {dtype = f64, shape = [5]} : f64[5]",
                                   {{"%s", 0, 1000}}},
                                  {{"%s: i32[2]"},
                                   "random_uniform(%s) {dtype = bf16, offset = 3, shape = [2, 4]} "
                                   ": bf16[2,4]",
                                   {{"%s", -2147483648.0, 2147483648.0}}}}});
}

} // namespace kiln
