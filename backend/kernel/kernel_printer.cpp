// The kernel IR as text: one statement a line, expressions as nested calls, names as declared,
// so the output depends only on the kernel (FileCheck-stable).

#include "backend/kernel/kernel_ir.h"

#include "ir/attributes.h"

#include <fmt/format.h>
#include <limits>

namespace kiln::kernel {
namespace {

std::string_view roleName(Role r) {
  switch (r) {
  case Role::Read:
    return "read";
  case Role::Write:
    return "write";
  case Role::Constant:
    return "const";
  case Role::Local:
    return "local";
  }
  return "?";
}

class Printer {
public:
  explicit Printer(const Kernel &k) : k_(k) {}

  std::string expr(const Expr &e) const {
    return std::visit([&](const auto &n) { return exprNode(e->type, n); }, e->node);
  }

  void block(const Block &b, int depth) {
    for (const Stmt &s : b)
      std::visit([&](const auto &n) { stmt(n, depth); }, s.node);
  }

  std::string out;

private:
  std::string indices(const std::vector<Expr> &idx) const {
    std::vector<std::string> parts;
    for (const Expr &i : idx)
      parts.push_back(expr(i));
    return fmt::format("[{}]", fmt::join(parts, ", "));
  }

  std::string exprNode(ScalarType t, const Const &c) const {
    if (t == ScalarType::index)
      return fmt::format("{}", c.int_value);
    if (t == ScalarType::boolean)
      return c.value != 0 ? "true" : "false";
    if (isInteger(t))
      return fmt::format("{}:{}", c.int_value, scalarTypeName(t));
    return fmt::format("{}:{}", floatStr(c.value), scalarTypeName(t));
  }
  std::string exprNode(ScalarType, const VarRef &v) const { return "%" + k_.vars[v.var].name; }
  std::string exprNode(ScalarType, const Load &l) const {
    return "%" + k_.buffers[l.buffer].name + indices(l.indices);
  }
  std::string exprNode(ScalarType, const Unary &u) const {
    return fmt::format("{}({})", unaryOpName(u.op), expr(u.x));
  }
  std::string exprNode(ScalarType, const Binary &b) const {
    return fmt::format("{}({}, {})", binaryOpName(b.op), expr(b.a), expr(b.b));
  }
  std::string exprNode(ScalarType, const Select &s) const {
    return fmt::format("select({}, {}, {})", expr(s.cond), expr(s.a), expr(s.b));
  }
  std::string exprNode(ScalarType t, const Cast &c) const {
    return fmt::format("cast<{}>({})", scalarTypeName(t), expr(c.x));
  }
  std::string exprNode(ScalarType t, const Philox &p) const {
    return fmt::format("philox<{}>({}, {}, {})", scalarTypeName(t), expr(p.key_lo), expr(p.key_hi),
                       expr(p.counter));
  }

  void line(int depth, const std::string &text) {
    out += std::string(2 * depth, ' ') + text + "\n";
  }
  const std::string &name(int var) const { return k_.vars[var].name; }

  void stmt(const Loop &l, int depth) {
    line(depth, fmt::format("{} %{} = 0 to {} {{", loopKindName(l.kind), name(l.var), l.extent));
    block(l.body, depth + 1);
    line(depth, "}");
  }
  void stmt(const Store &s, int depth) {
    line(depth,
         fmt::format("%{}{} = {}", k_.buffers[s.buffer].name, indices(s.indices), expr(s.value)));
  }
  void stmt(const Let &s, int depth) {
    line(depth, fmt::format("let %{}: {} = {}", name(s.var), scalarTypeName(k_.vars[s.var].type),
                            expr(s.value)));
  }
  void stmt(const Accumulator &s, int depth) {
    line(depth, fmt::format("var %{}: {} = {}", name(s.var), scalarTypeName(k_.vars[s.var].type),
                            expr(s.init)));
  }
  void stmt(const Assign &s, int depth) {
    line(depth, fmt::format("%{} = {}", name(s.var), expr(s.value)));
  }
  void stmt(const Barrier &, int depth) { line(depth, "barrier"); }
  void stmt(const GroupReduce &s, int depth) {
    line(depth, fmt::format("group_reduce {} %{}", binaryOpName(s.op), name(s.var)));
  }
  void stmt(const Check &s, int depth) {
    line(depth, fmt::format("check {} else trap{} at {}", expr(s.ok), s.trap, expr(s.position)));
  }
  void stmt(const If &s, int depth) {
    line(depth, fmt::format("if {} {{", expr(s.cond)));
    block(s.body, depth + 1);
    line(depth, "}");
  }

  const Kernel &k_;
};

std::string bufferDecl(const Buffer &b) {
  return fmt::format("%{}: {}", b.name, TensorType{b.dtype, b.shape}.str());
}

} // namespace

std::string print(const Kernel &k, const Expr &e) { return Printer(k).expr(e); }

std::string identity(const Kernel &k) {
  Kernel unnamed = k;
  unnamed.name.clear();
  return print(unnamed, true);
}

std::string print(const Kernel &k, bool all_constants) {
  std::vector<std::string> params;
  for (int i : k.parameters())
    params.push_back(fmt::format("{} {}", bufferDecl(k.buffers[i]), roleName(k.buffers[i].role)));
  Printer p(k);
  p.out = fmt::format("kernel @{}({}){} {{\n", k.name, fmt::join(params, ", "),
                      k.noalias ? " noalias" : "");
  // Constant tables print their first elements: enough to recognise them, short for big ones.
  const size_t kShown = all_constants ? std::numeric_limits<size_t>::max() : 16;
  for (const Buffer &b : k.buffers) {
    if (b.role == Role::Constant) {
      std::vector<std::string> vals;
      for (size_t i = 0; i < b.values.size() && i < kShown; ++i)
        vals.push_back(floatStr(b.values[i]));
      if (b.values.size() > kShown)
        vals.push_back(fmt::format("... {} values", b.values.size()));
      p.out += fmt::format("  const {} = [{}]\n", bufferDecl(b), fmt::join(vals, ", "));
    } else if (b.role == Role::Local) {
      p.out += fmt::format("  local {}\n", bufferDecl(b));
    }
  }
  for (size_t i = 0; i < k.traps.size(); ++i)
    p.out += fmt::format("  trap{} on %{}: \"{}\"\n", i, k.buffers[k.traps[i].buffer].name,
                         k.traps[i].message);
  p.block(k.body, 1);
  p.out += "}\n";
  return p.out;
}

} // namespace kiln::kernel
