// Checks the invariants every code generator relies on: variables defined once and used in
// scope, operand types that agree, stores only to writable buffers, indices that match buffer
// ranks, the nesting rules of the parallel levels, and checks of declared traps.

#include "backend/kernel/kernel_ir.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln::kernel {
namespace {

struct Problem {
  std::string message;
};

class Verifier {
public:
  explicit Verifier(const Kernel &k)
      : k_(k), in_scope_(k.vars.size(), false), defined_(k.vars.size(), false) {}

  void run() {
    for (size_t i = 0; i < k_.buffers.size(); ++i) {
      const Buffer &b = k_.buffers[i];
      if (b.strides != stridesOf(b.shape))
        fail("buffer %{} does not have row-major strides", b.name);
      if (b.role == Role::Constant && static_cast<int64_t>(b.values.size()) != numElements(b.shape))
        fail("constant %{} holds {} values for shape {}", b.name, b.values.size(),
             shapeStr(b.shape));
    }
    for (size_t i = 0; i < k_.traps.size(); ++i) {
      int b = k_.traps[i].buffer;
      if (b < 0 || b >= static_cast<int>(k_.buffers.size()) || k_.buffers[b].role != Role::Read ||
          !isInteger(computeType(k_.buffers[b].dtype)))
        fail("trap{} does not name an integer read buffer", i);
    }
    block(k_.body);
  }

private:
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args &&...args) const {
    throw Problem{fmt::format(f, std::forward<Args>(args)...)};
  }

  std::string typeName(ScalarType t) const { return std::string(scalarTypeName(t)); }
  const std::string &varName(int v) const { return k_.vars[v].name; }

  void checkVar(int v) const {
    if (v < 0 || v >= static_cast<int>(k_.vars.size()))
      fail("variable number {} is not declared", v);
  }

  void checkBuffer(int b) const {
    if (b < 0 || b >= static_cast<int>(k_.buffers.size()))
      fail("buffer number {} is not declared", b);
    if (k_.buffers[b].role == Role::Local && !insideGroup())
      fail("local buffer %{} is used outside a group loop", k_.buffers[b].name);
  }

  void checkIndices(int b, const std::vector<Expr> &idx) {
    const Buffer &buf = k_.buffers[b];
    if (idx.size() != buf.shape.size())
      fail("%{} has rank {} but is indexed with {} indices", buf.name, buf.shape.size(),
           idx.size());
    for (const Expr &i : idx)
      if (expr(i) != ScalarType::index)
        fail("index of %{} has type {}, expected index", buf.name, typeName(i->type));
  }

  bool insideGroup() const {
    for (LoopKind k : loops_)
      if (k == LoopKind::Group)
        return true;
    return false;
  }

  // ---- expressions: returns the checked type -------------------------------------------------

  ScalarType expr(const Expr &e) {
    if (!e)
      fail("missing expression");
    ScalarType t = std::visit([&](const auto &n) { return node(e->type, n); }, e->node);
    if (t != e->type)
      fail("expression `{}` is typed {} but computes {}", print(k_, e), typeName(e->type),
           typeName(t));
    return t;
  }

  ScalarType node(ScalarType t, const Const &) {
    if (isInteger(t) || t == ScalarType::boolean || isFloat(t))
      return t;
    fail("constant of unknown type");
  }
  ScalarType node(ScalarType, const VarRef &v) {
    checkVar(v.var);
    if (!in_scope_[v.var])
      fail("variable %{} is used out of its scope", varName(v.var));
    return k_.vars[v.var].type;
  }
  ScalarType node(ScalarType, const Load &l) {
    checkBuffer(l.buffer);
    checkIndices(l.buffer, l.indices);
    return computeType(k_.buffers[l.buffer].dtype);
  }
  ScalarType node(ScalarType, const Unary &u) {
    ScalarType x = expr(u.x);
    switch (u.op) {
    case UnaryOp::Not:
      if (x != ScalarType::boolean)
        fail("not of {}, expected bool", typeName(x));
      break;
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Relu:
      if (x == ScalarType::boolean)
        fail("{} of bool", unaryOpName(u.op));
      break;
    case UnaryOp::RoundBF16:
      if (x != ScalarType::f32)
        fail("round_bf16 of {}, expected f32", typeName(x));
      break;
    default:
      if (!isFloat(x))
        fail("{} of {}, expected f32 or f64", unaryOpName(u.op), typeName(x));
    }
    return x;
  }
  ScalarType node(ScalarType, const Binary &b) {
    ScalarType x = expr(b.a), y = expr(b.b);
    if (x != y)
      fail("{} of {} and {}", binaryOpName(b.op), typeName(x), typeName(y));
    if (isComparison(b.op))
      return ScalarType::boolean;
    bool logical = b.op == BinaryOp::And || b.op == BinaryOp::Or;
    if (logical != (x == ScalarType::boolean))
      fail("{} of {}", binaryOpName(b.op), typeName(x));
    if (b.op == BinaryOp::Pow && !isFloat(x))
      fail("pow of {}, expected f32 or f64", typeName(x));
    if (b.op == BinaryOp::Rem && !isInteger(x))
      fail("rem of {}, expected an integer type", typeName(x));
    return x;
  }
  ScalarType node(ScalarType, const Select &s) {
    if (expr(s.cond) != ScalarType::boolean)
      fail("select condition has type {}, expected bool", typeName(s.cond->type));
    ScalarType x = expr(s.a), y = expr(s.b);
    if (x != y)
      fail("select arms have types {} and {}", typeName(x), typeName(y));
    return x;
  }
  ScalarType node(ScalarType t, const Cast &c) {
    expr(c.x);
    return t;
  }
  ScalarType node(ScalarType t, const Philox &p) {
    for (const Expr *word : {&p.key_lo, &p.key_hi})
      if (ScalarType s = expr(*word); s != ScalarType::i32)
        fail("philox key word has type {}, expected i32", typeName(s));
    if (expr(p.counter) != ScalarType::index)
      fail("philox counter has type {}, expected index", typeName(p.counter->type));
    if (!isFloat(t))
      fail("philox yields {}, expected f32 or f64", typeName(t));
    return t;
  }

  // ---- statements ----------------------------------------------------------------------------

  void define(int v, bool is_mutable) {
    checkVar(v);
    if (defined_[v])
      fail("variable %{} is defined twice", varName(v));
    if (k_.vars[v].is_mutable != is_mutable)
      fail("variable %{} is {}mutable", varName(v), is_mutable ? "not " : "");
    defined_[v] = in_scope_[v] = true;
    scope_.push_back(v);
  }

  void block(const Block &b) {
    size_t mark = scope_.size();
    for (const Stmt &s : b)
      std::visit([&](const auto &n) { stmt(n); }, s.node);
    for (size_t i = mark; i < scope_.size(); ++i)
      in_scope_[scope_[i]] = false;
    scope_.resize(mark);
  }

  void stmt(const Loop &l) {
    bool parallel_level = l.kind == LoopKind::Parallel || l.kind == LoopKind::Group;
    for (LoopKind outer : loops_)
      if (parallel_level && outer != LoopKind::Parallel && outer != LoopKind::Group)
        fail("{} loop %{} is nested in a {} loop", loopKindName(l.kind), varName(l.var),
             loopKindName(outer));
    if (l.kind == LoopKind::Worker) {
      // In a group, under nothing but serial loops that all the group's workers run in step.
      auto up = std::find_if(loops_.rbegin(), loops_.rend(),
                             [](LoopKind k) { return k != LoopKind::Serial; });
      if (up == loops_.rend() || *up != LoopKind::Group)
        fail("worker loop %{} is not inside a group loop (directly or under serial loops)",
             varName(l.var));
    }
    if (l.extent < 0)
      fail("loop %{} has a negative extent {}", varName(l.var), l.extent);
    size_t mark = scope_.size();
    define(l.var, false);
    if (k_.vars[l.var].type != ScalarType::index)
      fail("loop variable %{} has type {}, expected index", varName(l.var),
           typeName(k_.vars[l.var].type));
    loops_.push_back(l.kind);
    block(l.body);
    loops_.pop_back();
    // The index is only in scope in the body.
    for (size_t i = mark; i < scope_.size(); ++i)
      in_scope_[scope_[i]] = false;
    scope_.resize(mark);
  }

  void stmt(const Store &s) {
    checkBuffer(s.buffer);
    const Buffer &b = k_.buffers[s.buffer];
    if (b.role != Role::Write && b.role != Role::Local)
      fail("store to %{}, which is not a write or local buffer", b.name);
    for (LoopKind k : loops_)
      if (k == LoopKind::Reduction && b.role != Role::Local)
        fail("store to %{} inside a reduction loop", b.name);
    checkIndices(s.buffer, s.indices);
    ScalarType v = expr(s.value), want = computeType(b.dtype);
    if (v != want)
      fail("store of {} to %{} of {}, expected {}", typeName(v), b.name, dtypeName(b.dtype),
           typeName(want));
  }

  void stmt(const Let &s) {
    ScalarType v = expr(s.value);
    define(s.var, false);
    if (v != k_.vars[s.var].type)
      fail("let %{}: {} bound to {}", varName(s.var), typeName(k_.vars[s.var].type), typeName(v));
  }

  void stmt(const Accumulator &s) {
    ScalarType v = expr(s.init);
    define(s.var, true);
    if (v != k_.vars[s.var].type)
      fail("var %{}: {} starts as {}", varName(s.var), typeName(k_.vars[s.var].type), typeName(v));
  }

  void stmt(const Assign &s) {
    checkVar(s.var);
    if (!in_scope_[s.var])
      fail("assignment to %{} out of its scope", varName(s.var));
    if (!k_.vars[s.var].is_mutable)
      fail("assignment to %{}, which is not an accumulator", varName(s.var));
    ScalarType v = expr(s.value);
    if (v != k_.vars[s.var].type)
      fail("assignment of {} to %{}: {}", typeName(v), varName(s.var),
           typeName(k_.vars[s.var].type));
  }

  void requireGroupScope(std::string_view what) const {
    if (std::find(loops_.begin(), loops_.end(), LoopKind::Worker) != loops_.end())
      fail("{} inside a worker loop", what);
    if (loops_.empty() || loops_.back() != LoopKind::Group)
      fail("{} outside the body of a group loop", what);
  }

  void stmt(const Barrier &) { requireGroupScope("barrier"); }

  void stmt(const GroupReduce &s) {
    requireGroupScope("group_reduce");
    checkVar(s.var);
    if (!in_scope_[s.var] || !k_.vars[s.var].is_mutable)
      fail("group_reduce of %{}, which is not an accumulator in scope", varName(s.var));
    if (s.op != BinaryOp::Add && s.op != BinaryOp::Mul && s.op != BinaryOp::Max &&
        s.op != BinaryOp::Min)
      fail("group_reduce with {}, expected add, mul, max or min", binaryOpName(s.op));
  }

  void stmt(const Check &s) {
    if (s.trap < 0 || s.trap >= static_cast<int>(k_.traps.size()))
      fail("check of trap{}, which is not declared", s.trap);
    if (expr(s.ok) != ScalarType::boolean)
      fail("check condition has type {}, expected bool", typeName(s.ok->type));
    if (expr(s.position) != ScalarType::index)
      fail("check position has type {}, expected index", typeName(s.position->type));
  }

  // Loops and group scope see through an if: one at group level is taken by all workers alike,
  // and one inside a worker loop is still inside that loop.
  void stmt(const If &s) {
    if (expr(s.cond) != ScalarType::boolean)
      fail("if condition has type {}, expected bool", typeName(s.cond->type));
    block(s.body);
  }

  const Kernel &k_;
  std::vector<bool> in_scope_, defined_;
  std::vector<int> scope_;
  std::vector<LoopKind> loops_;
};

} // namespace

std::string verify(const Kernel &k) {
  try {
    Verifier(k).run();
  } catch (const Problem &p) {
    return p.message;
  }
  return {};
}

} // namespace kiln::kernel
