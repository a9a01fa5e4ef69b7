#include "backend/kernel/kernel_ir.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln::kernel {

std::string_view scalarTypeName(ScalarType t) {
  switch (t) {
  case ScalarType::f32:
    return "f32";
  case ScalarType::f64:
    return "f64";
  case ScalarType::i32:
    return "i32";
  case ScalarType::i64:
    return "i64";
  case ScalarType::boolean:
    return "bool";
  case ScalarType::index:
    return "index";
  }
  return "?";
}

ScalarType computeType(DType d) {
  switch (d) {
  case DType::f32:
  case DType::bf16:
    return ScalarType::f32;
  case DType::f64:
    return ScalarType::f64;
  case DType::i32:
    return ScalarType::i32;
  case DType::i64:
    return ScalarType::i64;
  case DType::boolean:
    return ScalarType::boolean;
  }
  return ScalarType::f32;
}

DType storageType(ScalarType t) {
  switch (t) {
  case ScalarType::f32:
    return DType::f32;
  case ScalarType::f64:
    return DType::f64;
  case ScalarType::i32:
    return DType::i32;
  case ScalarType::i64:
  case ScalarType::index:
    return DType::i64;
  case ScalarType::boolean:
    return DType::boolean;
  }
  return DType::f32;
}

bool isFloat(ScalarType t) { return t == ScalarType::f32 || t == ScalarType::f64; }
bool isInteger(ScalarType t) {
  return t == ScalarType::i32 || t == ScalarType::i64 || t == ScalarType::index;
}

std::string_view unaryOpName(UnaryOp op) {
  static constexpr std::string_view names[] = {"neg",  "abs", "exp",  "log", "sqrt",      "rsqrt",
                                               "tanh", "erf", "relu", "not", "round_bf16"};
  return names[static_cast<int>(op)];
}

std::string_view binaryOpName(BinaryOp op) {
  static constexpr std::string_view names[] = {"add", "sub", "mul", "div", "rem", "pow",
                                               "max", "min", "eq",  "ne",  "lt",  "le",
                                               "gt",  "ge",  "and", "or"};
  return names[static_cast<int>(op)];
}

bool isComparison(BinaryOp op) {
  return op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le ||
         op == BinaryOp::Gt || op == BinaryOp::Ge;
}

std::string_view loopKindName(LoopKind k) {
  switch (k) {
  case LoopKind::Parallel:
    return "parallel";
  case LoopKind::Serial:
    return "serial";
  case LoopKind::Reduction:
    return "reduction";
  case LoopKind::Group:
    return "group";
  case LoopKind::Worker:
    return "worker";
  }
  return "?";
}

// ---- Kernel ----------------------------------------------------------------------------------

int Kernel::addBuffer(std::string buffer_name, DType dtype, Shape shape, Role role) {
  Buffer b{std::move(buffer_name), dtype, shape, stridesOf(shape), role, {}};
  buffers.push_back(std::move(b));
  return static_cast<int>(buffers.size()) - 1;
}

int Kernel::addConstant(DType dtype, Shape shape, std::vector<double> values) {
  int count = 0;
  for (const Buffer &b : buffers)
    count += b.role == Role::Constant;
  int id = addBuffer(fmt::format("const{}", count), dtype, std::move(shape), Role::Constant);
  buffers[id].values = std::move(values);
  return id;
}

int Kernel::addTrap(std::string message, int buffer) {
  traps.push_back(Trap{std::move(message), buffer});
  return static_cast<int>(traps.size()) - 1;
}

int Kernel::addVar(std::string_view prefix, ScalarType type, bool is_mutable) {
  int count = 0;
  for (const Var &v : vars)
    count += v.name.size() > prefix.size() && v.name.starts_with(prefix) &&
             std::isdigit(static_cast<unsigned char>(v.name[prefix.size()]));
  vars.push_back(Var{fmt::format("{}{}", prefix, count), type, is_mutable});
  return static_cast<int>(vars.size()) - 1;
}

std::vector<int> Kernel::parameters() const {
  std::vector<int> out;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].role == Role::Read || buffers[i].role == Role::Write)
      out.push_back(static_cast<int>(i));
  return out;
}

const Loop *Kernel::parallelLoop() const {
  if (body.size() != 1)
    return nullptr;
  const Loop *l = std::get_if<Loop>(&body[0].node);
  return l && (l->kind == LoopKind::Parallel || l->kind == LoopKind::Group) ? l : nullptr;
}

int64_t Kernel::parallelExtent() const {
  const Loop *l = parallelLoop();
  return l ? l->extent : 1;
}

namespace {

int64_t exprCost(const Expr &e) {
  return std::visit(
      [](const auto &n) -> int64_t {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, Load>) {
          int64_t c = 1;
          for (const Expr &i : n.indices)
            c += exprCost(i);
          return c;
        } else if constexpr (std::is_same_v<T, Unary>) {
          return 4 + exprCost(n.x);
        } else if constexpr (std::is_same_v<T, Binary>) {
          return 1 + exprCost(n.a) + exprCost(n.b);
        } else if constexpr (std::is_same_v<T, Select>) {
          return 1 + exprCost(n.cond) + exprCost(n.a) + exprCost(n.b);
        } else if constexpr (std::is_same_v<T, Cast>) {
          return 1 + exprCost(n.x);
        } else if constexpr (std::is_same_v<T, Philox>) {
          return 40 + exprCost(n.key_lo) + exprCost(n.key_hi) + exprCost(n.counter);
        } else {
          return 0;
        }
      },
      e->node);
}

int64_t blockCost(const Block &b) {
  int64_t c = 0;
  for (const Stmt &s : b)
    c += std::visit(
        [](const auto &n) -> int64_t {
          using T = std::decay_t<decltype(n)>;
          if constexpr (std::is_same_v<T, Loop>)
            return n.extent * blockCost(n.body);
          else if constexpr (std::is_same_v<T, Store>)
            return 1 + exprCost(n.value);
          else if constexpr (std::is_same_v<T, Let> || std::is_same_v<T, Assign>)
            return exprCost(n.value);
          else if constexpr (std::is_same_v<T, Accumulator>)
            return exprCost(n.init);
          else if constexpr (std::is_same_v<T, Check>)
            return 1 + exprCost(n.ok);
          else if constexpr (std::is_same_v<T, If>)
            return 1 + exprCost(n.cond) + blockCost(n.body);
          else
            return 1;
        },
        s.node);
  return c;
}

} // namespace

int64_t Kernel::workPerIteration() const {
  const Loop *l = parallelLoop();
  return std::max<int64_t>(1, blockCost(l ? l->body : body));
}

// ---- constructors ----------------------------------------------------------------------------

namespace {
template <typename T> Expr make(ScalarType t, T node) {
  return std::make_shared<const ExprNode>(ExprNode{t, std::move(node)});
}
} // namespace

Expr constant(double v, ScalarType t) {
  // The integer view exists only where the value fits: a cast of -inf (softmax's starting
  // maximum), NaN or 1e30 to int64_t is undefined.
  bool fits = v >= -0x1p63 && v < 0x1p63;
  return make(t, Const{v, fits ? static_cast<int64_t>(v) : 0});
}

Expr intConst(int64_t v, ScalarType t) { return make(t, Const{static_cast<double>(v), v}); }

Expr varRef(const Kernel &k, int var) {
  KILN_ASSERT(var >= 0 && var < static_cast<int>(k.vars.size()), "variable out of range");
  return make(k.vars[var].type, VarRef{var});
}

Expr load(const Kernel &k, int buffer, std::vector<Expr> indices) {
  KILN_ASSERT(buffer >= 0 && buffer < static_cast<int>(k.buffers.size()), "buffer out of range");
  return make(computeType(k.buffers[buffer].dtype), Load{buffer, std::move(indices)});
}

Expr unary(UnaryOp op, Expr x) {
  ScalarType t = x->type;
  return make(t, Unary{op, std::move(x)});
}

Expr binary(BinaryOp op, Expr a, Expr b) {
  ScalarType t = isComparison(op) ? ScalarType::boolean : a->type;
  return make(t, Binary{op, std::move(a), std::move(b)});
}

Expr select(Expr cond, Expr a, Expr b) {
  ScalarType t = a->type;
  return make(t, Select{std::move(cond), std::move(a), std::move(b)});
}

Expr cast(Expr x, ScalarType t) { return x->type == t ? x : make(t, Cast{std::move(x)}); }

Expr philox(Expr key_lo, Expr key_hi, Expr counter, ScalarType t) {
  return make(t, Philox{std::move(key_lo), std::move(key_hi), std::move(counter)});
}

Expr add(Expr a, Expr b) { return binary(BinaryOp::Add, std::move(a), std::move(b)); }
Expr sub(Expr a, Expr b) { return binary(BinaryOp::Sub, std::move(a), std::move(b)); }
Expr mul(Expr a, Expr b) { return binary(BinaryOp::Mul, std::move(a), std::move(b)); }
Expr div(Expr a, Expr b) { return binary(BinaryOp::Div, std::move(a), std::move(b)); }

Stmt loop(int var, LoopKind kind, int64_t extent, Block body) {
  return Stmt{Loop{var, kind, extent, std::move(body)}};
}
Stmt store(int buffer, std::vector<Expr> indices, Expr value) {
  return Stmt{Store{buffer, std::move(indices), std::move(value)}};
}
Stmt let(int var, Expr value) { return Stmt{Let{var, std::move(value)}}; }
Stmt accumulator(int var, Expr init) { return Stmt{Accumulator{var, std::move(init)}}; }
Stmt assign(int var, Expr value) { return Stmt{Assign{var, std::move(value)}}; }
Stmt check(int trap, Expr ok, Expr position) {
  return Stmt{Check{trap, std::move(ok), std::move(position)}};
}
Stmt ifThen(Expr cond, Block body) { return Stmt{If{std::move(cond), std::move(body)}}; }

std::string trapMessage(const Trap &trap, int64_t value) {
  return fmt::format(fmt::runtime(trap.message), value);
}

void assertValid(const Kernel &k) {
  std::string problem = verify(k);
  if (!problem.empty()) {
    std::string msg = fmt::format("malformed kernel @{}: {}\n{}", k.name, problem, print(k));
    assertionFailed("verify(kernel).empty()", __FILE__, __LINE__, msg.c_str());
  }
}

} // namespace kiln::kernel
