// Elementwise ops: unary math, binary arithmetic, comparisons and logic with numpy
// broadcasting, select, cast, gelu and its gradient. One loop nest over the collapsed output;
// each operand is read through its broadcast view.

#include "backend/kernel/lowerings.h"

#include <cmath>
#include <span>

namespace kiln::kernel {
namespace {

/// The scalar value of an elementwise node from its operands' values.
using ValueFn = Expr (*)(const Node &, std::span<const Expr>);

Expr c(double v, const Expr &like) { return constant(v, like->type); }

std::optional<Kernel> lowerElementwise(const Node &node, ValueFn fn) {
  Kernel k = kernelFor(node);
  int n = static_cast<int>(node.operands.size());
  std::vector<Shape> shapes;
  for (const Value *v : node.operands)
    shapes.push_back(v->type.shape);
  CollapsedBroadcast cb = collapseBroadcast(node.result()->type.shape, shapes);
  for (int i = 0; i < n; ++i)
    setView(k, i, cb.operands[i]);
  setView(k, n, cb.out);
  LoopNest nest = LoopNest::make(k, cb.out);
  std::vector<Expr> idx = nest.indices(k);
  std::vector<Expr> args;
  for (int i = 0; i < n; ++i)
    args.push_back(load(k, i, broadcastIndices(idx, cb.operands[i])));
  Expr value = cast(fn(node, args), computeType(node.result()->type.dtype));
  k.body = nest.wrap({store(n, idx, value)});
  return k;
}

template <ValueFn F> std::optional<Kernel> lower(const Node &node) {
  return lowerElementwise(node, F);
}

template <UnaryOp Op> Expr unaryValue(const Node &, std::span<const Expr> x) {
  return unary(Op, x[0]);
}

template <BinaryOp Op> Expr binaryValue(const Node &, std::span<const Expr> x) {
  return binary(Op, x[0], x[1]);
}

Expr sigmoidValue(const Node &, std::span<const Expr> x) {
  return div(c(1, x[0]), add(c(1, x[0]), unary(UnaryOp::Exp, unary(UnaryOp::Neg, x[0]))));
}

bool tanhApprox(const Node &n) { return n.getString("approximate") == "tanh"; }

Expr geluValue(const Node &n, std::span<const Expr> in) {
  const Expr &x = in[0];
  if (tanhApprox(n)) {
    Expr cube = mul(mul(c(0.044715, x), x), mul(x, x));
    Expr u = mul(c(std::sqrt(2 / M_PI), x), add(x, cube));
    return mul(mul(c(0.5, x), x), add(c(1, x), unary(UnaryOp::Tanh, u)));
  }
  return mul(mul(c(0.5, x), x), add(c(1, x), unary(UnaryOp::Erf, div(x, c(std::sqrt(2.0), x)))));
}

Expr geluGradValue(const Node &n, std::span<const Expr> in) {
  const Expr &x = in[0], &g = in[1];
  Expr d;
  if (tanhApprox(n)) {
    double k = std::sqrt(2 / M_PI);
    Expr u = mul(c(k, x), add(x, mul(mul(c(0.044715, x), x), mul(x, x))));
    Expr t = unary(UnaryOp::Tanh, u);
    Expr left = mul(c(0.5, x), add(c(1, x), t));
    Expr right = mul(mul(mul(c(0.5, x), x), sub(c(1, x), mul(t, t))),
                     mul(c(k, x), add(c(1, x), mul(mul(c(3 * 0.044715, x), x), x))));
    d = add(left, right);
  } else {
    Expr left = mul(c(0.5, x), add(c(1, x), unary(UnaryOp::Erf, div(x, c(std::sqrt(2.0), x)))));
    Expr right =
        div(mul(x, unary(UnaryOp::Exp, mul(mul(c(-0.5, x), x), x))), c(std::sqrt(2 * M_PI), x));
    d = add(left, right);
  }
  return mul(d, g);
}

Expr castValue(const Node &n, std::span<const Expr> x) {
  return cast(x[0], computeType(n.getDType("dtype")));
}

Expr selectValue(const Node &, std::span<const Expr> x) { return select(x[0], x[1], x[2]); }

} // namespace

void addElementwiseLowerings(LoweringTable &t) {
  addLowering(t, "neg", lower<unaryValue<UnaryOp::Neg>>);
  addLowering(t, "abs", lower<unaryValue<UnaryOp::Abs>>);
  addLowering(t, "exp", lower<unaryValue<UnaryOp::Exp>>);
  addLowering(t, "log", lower<unaryValue<UnaryOp::Log>>);
  addLowering(t, "sqrt", lower<unaryValue<UnaryOp::Sqrt>>);
  addLowering(t, "rsqrt", lower<unaryValue<UnaryOp::Rsqrt>>);
  addLowering(t, "tanh", lower<unaryValue<UnaryOp::Tanh>>);
  addLowering(t, "relu", lower<unaryValue<UnaryOp::Relu>>);
  addLowering(t, "not", lower<unaryValue<UnaryOp::Not>>);
  addLowering(t, "sigmoid", lower<sigmoidValue>);
  addLowering(t, "gelu", lower<geluValue>);
  addLowering(t, "gelu_grad", lower<geluGradValue>);
  addLowering(t, "cast", lower<castValue>);
  addLowering(t, "add", lower<binaryValue<BinaryOp::Add>>);
  addLowering(t, "sub", lower<binaryValue<BinaryOp::Sub>>);
  addLowering(t, "mul", lower<binaryValue<BinaryOp::Mul>>);
  addLowering(t, "div", lower<binaryValue<BinaryOp::Div>>);
  addLowering(t, "pow", lower<binaryValue<BinaryOp::Pow>>);
  addLowering(t, "max", lower<binaryValue<BinaryOp::Max>>);
  addLowering(t, "min", lower<binaryValue<BinaryOp::Min>>);
  addLowering(t, "eq", lower<binaryValue<BinaryOp::Eq>>);
  addLowering(t, "ne", lower<binaryValue<BinaryOp::Ne>>);
  addLowering(t, "lt", lower<binaryValue<BinaryOp::Lt>>);
  addLowering(t, "le", lower<binaryValue<BinaryOp::Le>>);
  addLowering(t, "gt", lower<binaryValue<BinaryOp::Gt>>);
  addLowering(t, "ge", lower<binaryValue<BinaryOp::Ge>>);
  addLowering(t, "and", lower<binaryValue<BinaryOp::And>>);
  addLowering(t, "or", lower<binaryValue<BinaryOp::Or>>);
  addLowering(t, "select", lower<selectValue>);
}

} // namespace kiln::kernel
