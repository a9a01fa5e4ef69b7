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

OpDef unary(std::string_view name, std::string_view summary, InferFn infer, ReferenceFn ref) {
  return OpDef{.name = name, .summary = summary, .min_operands = 1, .max_operands = 1,
               .infer = infer, .reference = ref};
}

OpDef binary(std::string_view name, std::string_view summary, InferFn infer, ReferenceFn ref) {
  return OpDef{.name = name, .summary = summary, .min_operands = 2, .max_operands = 2,
               .infer = infer, .reference = ref};
}

} // namespace

void addElementwiseOps(std::vector<OpDef> &ops) {
  ops.push_back(unary("neg", "-x", inferUnaryNumeric, unaryKernel<negF>));
  ops.push_back(unary("exp", "e^x", inferUnaryFloat, unaryKernel<expF>));
  ops.push_back(unary("log", "natural logarithm", inferUnaryFloat, unaryKernel<logF>));
  ops.push_back(unary("sqrt", "square root", inferUnaryFloat, unaryKernel<sqrtF>));
  ops.push_back(unary("rsqrt", "1 / sqrt(x)", inferUnaryFloat, unaryKernel<rsqrtF>));
  ops.push_back(unary("tanh", "hyperbolic tangent", inferUnaryFloat, unaryKernel<tanhF>));
  ops.push_back(unary("relu", "max(x, 0)", inferUnaryNumeric, unaryKernel<reluF>));
  ops.push_back(unary("sigmoid", "1 / (1 + e^-x)", inferUnaryFloat, unaryKernel<sigmoidF>));
  ops.push_back(unary("abs", "|x|", inferUnaryNumeric, unaryKernel<absF>));
  ops.push_back(unary("not", "logical not of a bool tensor", inferUnaryBool, unaryKernel<notF>));
  OpDef gelu = unary("gelu", "Gaussian error linear unit (erf form, or its tanh approximation)",
                     inferGelu, geluKernel);
  gelu.attrs = {{"approximate", AttrKind::String, Attribute(std::string("none"))}};
  ops.push_back(gelu);
  OpDef cast = unary("cast", "converts elements to another dtype", inferCast, castKernel);
  cast.attrs = {{"dtype", AttrKind::DType}};
  ops.push_back(cast);

  ops.push_back(binary("add", "a + b, broadcasting", inferBinaryNumeric, binaryKernel<addF>));
  ops.push_back(binary("sub", "a - b, broadcasting", inferBinaryNumeric, binaryKernel<subF>));
  ops.push_back(binary("mul", "a * b, broadcasting", inferBinaryNumeric, binaryKernel<mulF>));
  ops.push_back(binary("div", "a / b, broadcasting", inferBinaryNumeric, binaryKernel<divF>));
  ops.push_back(binary("pow", "a ^ b, broadcasting", inferBinaryFloat, binaryKernel<powF>));
  ops.push_back(binary("max", "elementwise maximum, broadcasting", inferBinaryNumeric, binaryKernel<maxF>));
  ops.push_back(binary("min", "elementwise minimum, broadcasting", inferBinaryNumeric, binaryKernel<minF>));
  ops.push_back(binary("eq", "a == b", inferCompare, binaryKernel<eqF>));
  ops.push_back(binary("ne", "a != b", inferCompare, binaryKernel<neF>));
  ops.push_back(binary("lt", "a < b", inferCompare, binaryKernel<ltF>));
  ops.push_back(binary("le", "a <= b", inferCompare, binaryKernel<leF>));
  ops.push_back(binary("gt", "a > b", inferCompare, binaryKernel<gtF>));
  ops.push_back(binary("ge", "a >= b", inferCompare, binaryKernel<geF>));
  ops.push_back(binary("and", "logical and of bool tensors", inferLogical, binaryKernel<andF>));
  ops.push_back(binary("or", "logical or of bool tensors", inferLogical, binaryKernel<orF>));

  ops.push_back(OpDef{.name = "select",
                      .summary = "cond ? a : b, broadcasting all three",
                      .min_operands = 3,
                      .max_operands = 3,
                      .infer = inferSelect,
                      .reference = selectKernel});
}

} // namespace kiln
