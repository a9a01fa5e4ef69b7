// Elementwise ops: unary math, binary arithmetic, comparisons and logic with numpy
// broadcasting, select, cast, gelu and its gradient. One loop nest over the collapsed output;
// each operand is read through its broadcast view.

#include "backend/kernel/lowerings.h"

#include <cmath>
#include <span>
#include <unordered_map>

namespace kiln::kernel {
namespace {

/// The scalar value of an elementwise node from its operands' values.
using ValueFn = Expr (*)(const Node &, std::span<const Expr>);

Expr c(double v, const Expr &like) { return constant(v, like->type); }

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

const std::unordered_map<const OpDef *, ValueFn> &valueFns() {
  static const std::unordered_map<const OpDef *, ValueFn> fns = [] {
    std::unordered_map<const OpDef *, ValueFn> m;
    auto add = [&](OpHandle op, ValueFn fn) { m.emplace(&op.def(), fn); };
    add(op::Neg, unaryValue<UnaryOp::Neg>);
    add(op::Abs, unaryValue<UnaryOp::Abs>);
    add(op::Exp, unaryValue<UnaryOp::Exp>);
    add(op::Log, unaryValue<UnaryOp::Log>);
    add(op::Sqrt, unaryValue<UnaryOp::Sqrt>);
    add(op::Rsqrt, unaryValue<UnaryOp::Rsqrt>);
    add(op::Tanh, unaryValue<UnaryOp::Tanh>);
    add(op::Relu, unaryValue<UnaryOp::Relu>);
    add(op::Not, unaryValue<UnaryOp::Not>);
    add(op::Sigmoid, sigmoidValue);
    add(op::Gelu, geluValue);
    add(op::GeluGrad, geluGradValue);
    add(op::Cast, castValue);
    add(op::Add, binaryValue<BinaryOp::Add>);
    add(op::Sub, binaryValue<BinaryOp::Sub>);
    add(op::Mul, binaryValue<BinaryOp::Mul>);
    add(op::Div, binaryValue<BinaryOp::Div>);
    add(op::Pow, binaryValue<BinaryOp::Pow>);
    add(op::Max, binaryValue<BinaryOp::Max>);
    add(op::Min, binaryValue<BinaryOp::Min>);
    add(op::Eq, binaryValue<BinaryOp::Eq>);
    add(op::Ne, binaryValue<BinaryOp::Ne>);
    add(op::Lt, binaryValue<BinaryOp::Lt>);
    add(op::Le, binaryValue<BinaryOp::Le>);
    add(op::Gt, binaryValue<BinaryOp::Gt>);
    add(op::Ge, binaryValue<BinaryOp::Ge>);
    add(op::And, binaryValue<BinaryOp::And>);
    add(op::Or, binaryValue<BinaryOp::Or>);
    add(op::Select, selectValue);
    return m;
  }();
  return fns;
}

std::optional<Kernel> lowerElementwise(const Node &node) {
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
  k.body = nest.wrap({store(n, idx, *elementwiseValue(node, args))});
  return k;
}

} // namespace

std::optional<Expr> elementwiseValue(const Node &node, std::span<const Expr> operands) {
  auto it = valueFns().find(node.op);
  if (it == valueFns().end())
    return std::nullopt;
  return cast(it->second(node, operands), computeType(node.result()->type.dtype));
}

void addElementwiseLowerings(LoweringTable &t) {
  for (const auto &[op, fn] : valueFns())
    addLowering(t, *op, lowerElementwise);
}

} // namespace kiln::kernel
