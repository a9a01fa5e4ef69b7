// Elementwise ops: unary math, binary arithmetic and comparisons with numpy broadcasting,
// select and cast.

#include "ir/ops/ops.h"

#include <cmath>

namespace kiln {
namespace {

using ops::broadcastIndex;
using ops::resultType;

// ---- unary -----------------------------------------------------------------------------------

std::vector<TensorType> inferUnaryFloat(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  return {ctx.operands[0]};
}

std::vector<TensorType> inferUnaryNumeric(const InferContext &ctx) {
  if (ctx.operands[0].dtype == DType::boolean)
    ctx.error("operand must be numeric, found {}", ctx.operands[0].str());
  return {ctx.operands[0]};
}

std::vector<TensorType> inferUnaryBool(const InferContext &ctx) {
  if (ctx.operands[0].dtype != DType::boolean)
    ctx.error("operand must be bool, found {}", ctx.operands[0].str());
  return {ctx.operands[0]};
}

template <double (*F)(double)>
std::vector<Literal> unaryKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = F(in[0]->data[i]);
  return {out};
}

double negF(double x) { return -x; }
double expF(double x) { return std::exp(x); }
double logF(double x) { return std::log(x); }
double sqrtF(double x) { return std::sqrt(x); }
double rsqrtF(double x) { return 1.0 / std::sqrt(x); }
double tanhF(double x) { return std::tanh(x); }
double reluF(double x) { return x > 0 ? x : 0.0; }
double sigmoidF(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double absF(double x) { return std::fabs(x); }
double notF(double x) { return x == 0.0; }

std::vector<Literal> geluKernel(const Node &n, std::span<const Literal *const> in) {
  bool tanh_approx = n.getString("approximate") == "tanh";
  Literal out(resultType(n));
  for (int64_t i = 0; i < out.size(); ++i) {
    double x = in[0]->data[i];
    out.data[i] = tanh_approx
                      ? 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)))
                      : 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  }
  return {out};
}

std::vector<TensorType> inferGelu(const InferContext &ctx) {
  const auto &mode = std::get<std::string>(ctx.attrs.at("approximate"));
  if (mode != "none" && mode != "tanh")
    ctx.error("attribute 'approximate' must be \"none\" or \"tanh\", found \"{}\"", mode);
  return inferUnaryFloat(ctx);
}

std::vector<TensorType> inferCast(const InferContext &ctx) {
  return {TensorType{ctx.getDType("dtype"), ctx.operands[0].shape}};
}

std::vector<Literal> castKernel(const Node &n, std::span<const Literal *const> in) {
  return {Literal(resultType(n), in[0]->data)};
}

// ---- binary ----------------------------------------------------------------------------------

Shape broadcastOrFail(const InferContext &ctx, const TensorType &a, const TensorType &b) {
  auto shape = broadcastShapes(a.shape, b.shape);
  if (!shape)
    ctx.error("shapes {} and {} do not broadcast", shapeStr(a.shape), shapeStr(b.shape));
  return *shape;
}

void requireSameDType(const InferContext &ctx, const TensorType &a, const TensorType &b) {
  if (a.dtype != b.dtype)
    ctx.error("operand dtypes differ: {} and {}", a.str(), b.str());
}

std::vector<TensorType> inferBinaryNumeric(const InferContext &ctx) {
  const auto &a = ctx.operands[0], &b = ctx.operands[1];
  requireSameDType(ctx, a, b);
  if (a.dtype == DType::boolean)
    ctx.error("operands must be numeric, found {}", a.str());
  return {TensorType{a.dtype, broadcastOrFail(ctx, a, b)}};
}

std::vector<TensorType> inferBinaryFloat(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  return inferBinaryNumeric(ctx);
}

std::vector<TensorType> inferCompare(const InferContext &ctx) {
  const auto &a = ctx.operands[0], &b = ctx.operands[1];
  requireSameDType(ctx, a, b);
  return {TensorType{DType::boolean, broadcastOrFail(ctx, a, b)}};
}

std::vector<TensorType> inferLogical(const InferContext &ctx) {
  const auto &a = ctx.operands[0], &b = ctx.operands[1];
  if (a.dtype != DType::boolean || b.dtype != DType::boolean)
    ctx.error("operands must be bool, found {} and {}", a.str(), b.str());
  return {TensorType{DType::boolean, broadcastOrFail(ctx, a, b)}};
}

template <double (*F)(double, double)>
std::vector<Literal> binaryKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  auto ia = broadcastIndex(in[0]->shape(), out.shape());
  auto ib = broadcastIndex(in[1]->shape(), out.shape());
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = F(in[0]->data[ia[i]], in[1]->data[ib[i]]);
  return {out};
}

double addF(double a, double b) { return a + b; }
double subF(double a, double b) { return a - b; }
double mulF(double a, double b) { return a * b; }
double divF(double a, double b) { return a / b; }
double powF(double a, double b) { return std::pow(a, b); }
double maxF(double a, double b) { return std::isnan(a) || a > b ? a : b; }
double minF(double a, double b) { return std::isnan(a) || a < b ? a : b; }
double eqF(double a, double b) { return a == b; }
double neF(double a, double b) { return a != b; }
double ltF(double a, double b) { return a < b; }
double leF(double a, double b) { return a <= b; }
double gtF(double a, double b) { return a > b; }
double geF(double a, double b) { return a >= b; }
double andF(double a, double b) { return a != 0 && b != 0; }
double orF(double a, double b) { return a != 0 || b != 0; }

// ---- select ----------------------------------------------------------------------------------

std::vector<TensorType> inferSelect(const InferContext &ctx) {
  const auto &c = ctx.operands[0], &a = ctx.operands[1], &b = ctx.operands[2];
  if (c.dtype != DType::boolean)
    ctx.error("condition must be bool, found {}", c.str());
  requireSameDType(ctx, a, b);
  Shape ab = broadcastOrFail(ctx, a, b);
  auto shape = broadcastShapes(c.shape, ab);
  if (!shape)
    ctx.error("condition shape {} does not broadcast with {}", shapeStr(c.shape), shapeStr(ab));
  return {TensorType{a.dtype, *shape}};
}

std::vector<Literal> selectKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  auto ic = broadcastIndex(in[0]->shape(), out.shape());
  auto ia = broadcastIndex(in[1]->shape(), out.shape());
  auto ib = broadcastIndex(in[2]->shape(), out.shape());
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = in[0]->data[ic[i]] != 0 ? in[1]->data[ia[i]] : in[2]->data[ib[i]];
  return {out};
}

// ---- VJPs: one rule per op, gradients in terms of inputs x, result y and cotangent g ---------

using Grads = std::vector<Value *>;
using Cots = std::span<Value *const>;

Value *x0(const Node &n) { return n.operands[0]; }
Value *y0(const Node &n) { return n.result(); }

Grads negVjp(Builder &b, const Node &, Cots g) { return {ops::Emit{b}.neg(g[0])}; }
Grads expVjp(Builder &b, const Node &n, Cots g) { return {ops::Emit{b}.mul(g[0], y0(n))}; }
Grads logVjp(Builder &b, const Node &n, Cots g) { return {ops::Emit{b}.div(g[0], x0(n))}; }
Grads sqrtVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  return {e.div(e.mul(g[0], e.scalar(g[0], 0.5)), y0(n))};
}
Grads rsqrtVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *y = y0(n);
  return {e.mul(e.mul(g[0], e.scalar(y, -0.5)), e.mul(y, e.mul(y, y)))};
}
Grads tanhVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *y = y0(n);
  return {e.mul(g[0], e.sub(e.scalar(y, 1.0), e.mul(y, y)))};
}
Grads reluVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  return {e.where(b.create(op::Gt, {x0(n), e.scalar(x0(n), 0.0)}), g[0])};
}
Grads sigmoidVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *y = y0(n);
  return {e.mul(g[0], e.mul(y, e.sub(e.scalar(y, 1.0), y)))};
}
Grads absVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *x = x0(n), *zero = e.scalar(x, 0.0);
  // The sign of x, and 0 at 0 as PyTorch.
  Value *neg_g =
      b.create(op::Select, {b.create(op::Lt, {x, zero}), e.neg(g[0]), e.scalar(g[0], 0.0)});
  return {b.create(op::Select, {b.create(op::Gt, {x, zero}), g[0], neg_g})};
}
Grads geluVjp(Builder &b, const Node &n, Cots g) {
  return {b.create(op::GeluGrad, {x0(n), g[0]}, {{"approximate", n.getString("approximate")}})};
}
Grads castVjp(Builder &b, const Node &n, Cots g) {
  if (!isFloat(x0(n)->type.dtype) || !isFloat(y0(n)->type.dtype))
    return {nullptr};
  return {ops::Emit{b}.cast(g[0], x0(n)->type.dtype)};
}

Grads addVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  return {e.unbroadcast(g[0], n.operands[0]->type.shape),
          e.unbroadcast(g[0], n.operands[1]->type.shape)};
}
Grads subVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  return {e.unbroadcast(g[0], n.operands[0]->type.shape),
          e.unbroadcast(e.neg(g[0]), n.operands[1]->type.shape)};
}
Grads mulVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *x = n.operands[0], *y = n.operands[1];
  return {e.unbroadcast(e.mul(g[0], y), x->type.shape),
          e.unbroadcast(e.mul(g[0], x), y->type.shape)};
}
Grads divVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *x = n.operands[0], *y = n.operands[1];
  return {e.unbroadcast(e.div(g[0], y), x->type.shape),
          e.unbroadcast(e.neg(e.div(e.mul(g[0], y0(n)), y)), y->type.shape)};
}
/// Where x is 0 the exponent gets no gradient, and where p is 0 x gets none (PyTorch's
/// conventions, which avoid 0 * inf).
Grads powVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *x = n.operands[0], *p = n.operands[1];
  Value *dx = e.mul(g[0], e.mul(p, b.create(op::Pow, {x, e.sub(p, e.scalar(p, 1.0))})));
  dx = b.create(op::Select, {b.create(op::Eq, {p, e.scalar(p, 0.0)}), e.scalar(dx, 0.0), dx});
  Value *dp = e.mul(g[0], e.mul(y0(n), b.create(op::Log, {x})));
  dp = b.create(op::Select, {b.create(op::Eq, {x, e.scalar(x, 0.0)}), e.scalar(dp, 0.0), dp});
  return {e.unbroadcast(dx, x->type.shape), e.unbroadcast(dp, p->type.shape)};
}
/// max and min: the winner takes the gradient; a tie splits it evenly, as in PyTorch.
Grads minMaxVjp(Builder &b, const Node &n, Cots g, OpHandle wins, OpHandle loses) {
  ops::Emit e{b};
  Value *x = n.operands[0], *y = n.operands[1];
  DType dt = g[0]->type.dtype;
  Value *tie = e.mul(e.cast(b.create(op::Eq, {x, y}), dt), e.scalar(g[0], 0.5));
  Value *gx = e.mul(g[0], e.add(e.cast(b.create(wins, {x, y}), dt), tie));
  Value *gy = e.mul(g[0], e.add(e.cast(b.create(loses, {x, y}), dt), tie));
  return {e.unbroadcast(gx, x->type.shape), e.unbroadcast(gy, y->type.shape)};
}
Grads maxVjp(Builder &b, const Node &n, Cots g) { return minMaxVjp(b, n, g, op::Gt, op::Lt); }
Grads minVjp(Builder &b, const Node &n, Cots g) { return minMaxVjp(b, n, g, op::Lt, op::Gt); }
Grads selectVjp(Builder &b, const Node &n, Cots g) {
  ops::Emit e{b};
  Value *c = n.operands[0];
  Value *ga = e.where(c, g[0]);
  Value *gb = b.create(op::Select, {c, e.scalar(g[0], 0.0), g[0]});
  return {nullptr, e.unbroadcast(ga, n.operands[1]->type.shape),
          e.unbroadcast(gb, n.operands[2]->type.shape)};
}

// ---- gelu_grad: the derivative of gelu, a backward op of its own -----------------------------

std::vector<TensorType> inferGeluGrad(const InferContext &ctx) {
  if (ctx.operands[0] != ctx.operands[1])
    ctx.error("x and the cotangent must have one type, found {} and {}", ctx.operands[0].str(),
              ctx.operands[1].str());
  return inferGelu(ctx);
}

std::vector<Literal> geluGradKernel(const Node &n, std::span<const Literal *const> in) {
  bool tanh_approx = n.getString("approximate") == "tanh";
  Literal out(resultType(n));
  for (int64_t i = 0; i < out.size(); ++i) {
    double x = in[0]->data[i], d;
    if (tanh_approx) {
      double k = std::sqrt(2 / M_PI), u = k * (x + 0.044715 * x * x * x);
      double t = std::tanh(u);
      d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
    } else {
      d = 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
          x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    }
    out.data[i] = d * in[1]->data[i];
  }
  return {out};
}

/// An elementwise op of `arity` operands with a VJP, or marked non-differentiable when vjp is
/// null.
OpDef elementwise(int arity, OpHandle op, std::string_view summary, InferFn infer, ReferenceFn ref,
                  VjpFn vjp, std::vector<OpSample> samples) {
  return OpDef{.name = op.name,
               .summary = summary,
               .min_operands = arity,
               .max_operands = arity,
               .infer = infer,
               .reference = ref,
               .differentiable = vjp ? Differentiable::Yes : Differentiable::No,
               .vjp = vjp,
               .samples = std::move(samples),
               .elementwise = true};
}

OpDef unary(OpHandle op, std::string_view summary, InferFn infer, ReferenceFn ref, VjpFn vjp,
            std::vector<OpSample> samples) {
  return elementwise(1, op, summary, infer, ref, vjp, std::move(samples));
}

OpDef binary(OpHandle op, std::string_view summary, InferFn infer, ReferenceFn ref, VjpFn vjp,
             std::vector<OpSample> samples) {
  return elementwise(2, op, summary, infer, ref, vjp, std::move(samples));
}

// ---- samples ---------------------------------------------------------------------------------

/// A unary sample over one input %a of the given type.
OpSample unarySample(OpHandle op, std::string_view type, std::vector<SampleRange> ranges = {},
                     std::string_view attrs = "") {
  return OpSample{{fmt::format("%a: {}", type)},
                  fmt::format("{}(%a){} : {}", op.name, attrs, type),
                  std::move(ranges)};
}

/// Samples of a float unary op: f32, f64 and bf16, drawn from [lo, hi).
std::vector<OpSample> floatUnarySamples(OpHandle op, double lo = -1, double hi = 1,
                                        std::string_view attrs = "") {
  std::vector<OpSample> out;
  for (std::string_view type : {"f32[2,3]", "f64[5]", "bf16[2,3]"})
    out.push_back(unarySample(op, type, {{"%a", lo, hi}}, attrs));
  return out;
}

/// A binary sample over %a and %b; the result type follows numpy broadcasting.
OpSample binarySample(OpHandle op, std::string_view a, std::string_view b, std::string_view result,
                      std::vector<SampleRange> ranges = {}) {
  return OpSample{{fmt::format("%a: {}", a), fmt::format("%b: {}", b)},
                  fmt::format("{}(%a, %b) : {}", op.name, result),
                  std::move(ranges)};
}

/// The broadcasting cases of an arithmetic op: same shapes, [2,3] with [3], with [2,1] and with
/// a scalar, spread over f32, i32, i64 and f64 (integers only where `integers`).
std::vector<OpSample> arithmeticSamples(OpHandle op, bool integers,
                                        std::vector<SampleRange> ranges = {}) {
  std::string_view i32 = integers ? "i32" : "f32", i64 = integers ? "i64" : "f64";
  std::string a = fmt::format("{}[2,3]", i32), b = fmt::format("{}[2,3]", i64);
  return {binarySample(op, "f32[2,3]", "f32[2,3]", "f32[2,3]", ranges),
          binarySample(op, "f32[2,3]", "f32[3]", "f32[2,3]", ranges),
          binarySample(op, a, fmt::format("{}[2,1]", i32), a, ranges),
          binarySample(op, b, fmt::format("{}[]", i64), b, ranges)};
}

/// A comparison over f32, and over i32, i64 and bool, where ties are common, broadcasting.
std::vector<OpSample> compareSamples(OpHandle op) {
  return {binarySample(op, "f32[2,3]", "f32[2,3]", "bool[2,3]"),
          binarySample(op, "i32[2,3]", "i32[3]", "bool[2,3]"),
          binarySample(op, "i64[2,3]", "i64[2,1]", "bool[2,3]"),
          binarySample(op, "bool[2,3]", "bool[]", "bool[2,3]")};
}

/// A logical op over bools, broadcasting.
std::vector<OpSample> logicalSamples(OpHandle op) {
  return {binarySample(op, "bool[2,3]", "bool[2,3]", "bool[2,3]"),
          binarySample(op, "bool[2,3]", "bool[3]", "bool[2,3]"),
          binarySample(op, "bool[2,1]", "bool[]", "bool[2,1]")};
}

} // namespace

void addElementwiseOps(std::vector<OpDef> &ops) {
  ops.push_back(unary(op::Neg, "-x", inferUnaryNumeric, unaryKernel<negF>, negVjp,
                      {unarySample(op::Neg, "f32[2,3]"), unarySample(op::Neg, "i32[2,3]"),
                       unarySample(op::Neg, "f64[4]"), unarySample(op::Neg, "bf16[2,3]")}));
  ops.push_back(unary(op::Exp, "e^x", inferUnaryFloat, unaryKernel<expF>, expVjp,
                      floatUnarySamples(op::Exp, -3, 3)));
  ops.push_back(unary(op::Log, "natural logarithm", inferUnaryFloat, unaryKernel<logF>, logVjp,
                      floatUnarySamples(op::Log, 0.1, 4)));
  ops.push_back(unary(op::Sqrt, "square root", inferUnaryFloat, unaryKernel<sqrtF>, sqrtVjp,
                      floatUnarySamples(op::Sqrt, 0.1, 4)));
  ops.push_back(unary(op::Rsqrt, "1 / sqrt(x)", inferUnaryFloat, unaryKernel<rsqrtF>, rsqrtVjp,
                      floatUnarySamples(op::Rsqrt, 0.1, 4)));
  ops.push_back(unary(op::Tanh, "hyperbolic tangent", inferUnaryFloat, unaryKernel<tanhF>, tanhVjp,
                      floatUnarySamples(op::Tanh, -3, 3)));
  ops.push_back(unary(op::Relu, "max(x, 0)", inferUnaryNumeric, unaryKernel<reluF>, reluVjp,
                      {unarySample(op::Relu, "f32[2,3]"), unarySample(op::Relu, "i64[2,3]"),
                       unarySample(op::Relu, "f64[5]"), unarySample(op::Relu, "bf16[2,3]")}));
  ops.push_back(unary(op::Sigmoid, "1 / (1 + e^-x)", inferUnaryFloat, unaryKernel<sigmoidF>,
                      sigmoidVjp, floatUnarySamples(op::Sigmoid, -4, 4)));
  ops.push_back(unary(op::Abs, "|x|", inferUnaryNumeric, unaryKernel<absF>, absVjp,
                      {unarySample(op::Abs, "f32[2,3]"), unarySample(op::Abs, "i32[2,3]"),
                       unarySample(op::Abs, "f64[5]")}));
  ops.push_back(unary(op::Not, "logical not of a bool tensor", inferUnaryBool, unaryKernel<notF>,
                      nullptr, {unarySample(op::Not, "bool[2,3]")}));
  OpDef gelu =
      unary(op::Gelu, "Gaussian error linear unit (erf form, or its tanh approximation)", inferGelu,
            geluKernel, geluVjp,
            {unarySample(op::Gelu, "f32[2,3]", {{"%a", -3, 3}}, " {approximate = \"tanh\"}"),
             unarySample(op::Gelu, "f32[2,3]", {{"%a", -3, 3}}),
             unarySample(op::Gelu, "f64[5]", {{"%a", -3, 3}}),
             unarySample(op::Gelu, "bf16[2,3]", {{"%a", -3, 3}}, " {approximate = \"tanh\"}")});
  gelu.attrs = {{"approximate", AttrKind::String, Attribute(std::string("none"))}};
  ops.push_back(gelu);
  // Casts to integers truncate toward zero: inputs span several integers of both signs.
  OpDef cast = unary(op::Cast, "converts elements to another dtype", inferCast, castKernel, castVjp,
                     {{{"%a: f32[2,3]"}, "cast(%a) {dtype = bf16} : bf16[2,3]"},
                      {{"%a: f32[2,3]"}, "cast(%a) {dtype = i32} : i32[2,3]", {{"%a", -5, 5}}},
                      {{"%a: i64[2,3]"}, "cast(%a) {dtype = f32} : f32[2,3]"},
                      {{"%a: bool[2,3]"}, "cast(%a) {dtype = f64} : f64[2,3]"}});
  cast.attrs = {{"dtype", AttrKind::DType}};
  ops.push_back(cast);

  ops.push_back(binary(op::Add, "a + b, broadcasting", inferBinaryNumeric, binaryKernel<addF>,
                       addVjp, arithmeticSamples(op::Add, true)));
  ops.push_back(binary(op::Sub, "a - b, broadcasting", inferBinaryNumeric, binaryKernel<subF>,
                       subVjp, arithmeticSamples(op::Sub, true)));
  ops.push_back(binary(op::Mul, "a * b, broadcasting", inferBinaryNumeric, binaryKernel<mulF>,
                       mulVjp, arithmeticSamples(op::Mul, true)));
  // Divisors stay away from zero; integer division truncates toward zero.
  ops.push_back(binary(op::Div, "a / b, broadcasting", inferBinaryNumeric, binaryKernel<divF>,
                       divVjp, arithmeticSamples(op::Div, true, {{"%a", -9, 10}, {"%b", 1, 4}})));
  ops.push_back(binary(op::Pow, "a ^ b, broadcasting", inferBinaryFloat, binaryKernel<powF>, powVjp,
                       arithmeticSamples(op::Pow, false, {{"%a", 0.2, 3}, {"%b", -2, 2}})));
  ops.push_back(binary(op::Max, "elementwise maximum, broadcasting", inferBinaryNumeric,
                       binaryKernel<maxF>, maxVjp, arithmeticSamples(op::Max, true)));
  ops.push_back(binary(op::Min, "elementwise minimum, broadcasting", inferBinaryNumeric,
                       binaryKernel<minF>, minVjp, arithmeticSamples(op::Min, true)));
  ops.push_back(
      binary(op::Eq, "a == b", inferCompare, binaryKernel<eqF>, nullptr, compareSamples(op::Eq)));
  ops.push_back(
      binary(op::Ne, "a != b", inferCompare, binaryKernel<neF>, nullptr, compareSamples(op::Ne)));
  ops.push_back(
      binary(op::Lt, "a < b", inferCompare, binaryKernel<ltF>, nullptr, compareSamples(op::Lt)));
  ops.push_back(
      binary(op::Le, "a <= b", inferCompare, binaryKernel<leF>, nullptr, compareSamples(op::Le)));
  ops.push_back(
      binary(op::Gt, "a > b", inferCompare, binaryKernel<gtF>, nullptr, compareSamples(op::Gt)));
  ops.push_back(
      binary(op::Ge, "a >= b", inferCompare, binaryKernel<geF>, nullptr, compareSamples(op::Ge)));
  ops.push_back(binary(op::And, "logical and of bool tensors", inferLogical, binaryKernel<andF>,
                       nullptr, logicalSamples(op::And)));
  ops.push_back(binary(op::Or, "logical or of bool tensors", inferLogical, binaryKernel<orF>,
                       nullptr, logicalSamples(op::Or)));

  ops.push_back(OpDef{
      .name = op::Select.name,
      .summary = "cond ? a : b, broadcasting all three",
      .min_operands = 3,
      .max_operands = 3,
      .infer = inferSelect,
      .reference = selectKernel,
      .differentiable = Differentiable::Yes,
      .vjp = selectVjp,
      .samples = {{{"%m: bool[2,3]", "%a: f32[2,3]", "%b: f32[2,3]"},
                   "select(%m, %a, %b) : f32[2,3]"},
                  {{"%m: bool[2,3]", "%a: f32[3]", "%b: f32[2,3]"},
                   "select(%m, %a, %b) : f32[2,3]"},
                  {{"%m: bool[2,1]", "%a: i32[2,3]", "%b: i32[]"}, "select(%m, %a, %b) : i32[2,3]"},
                  {{"%m: bool[]", "%a: f64[4]", "%b: f64[1]"}, "select(%m, %a, %b) : f64[4]"}},
      .elementwise = true});
  OpDef gelu_grad =
      binary(op::GeluGrad, "the cotangent times gelu'(x): the backward op of gelu", inferGeluGrad,
             geluGradKernel, nullptr,
             {binarySample(op::GeluGrad, "f32[2,3]", "f32[2,3]", "f32[2,3]", {{"%a", -3, 3}}),
              {{"%a: f32[2,3]", "%b: f32[2,3]"},
               "gelu_grad(%a, %b) {approximate = \"tanh\"} : f32[2,3]",
               {{"%a", -3, 3}}},
              binarySample(op::GeluGrad, "f64[5]", "f64[5]", "f64[5]", {{"%a", -3, 3}})});
  gelu_grad.attrs = {{"approximate", AttrKind::String, Attribute(std::string("none"))}};
  ops.push_back(gelu_grad);
}

} // namespace kiln
