#include "backend/kernel/flatten_parallel.h"

#include <algorithm>
#include <map>
#include <set>

namespace kiln::kernel {
namespace {

bool isVar(const Expr &e, int var) {
  const auto *r = std::get_if<VarRef>(&e->node);
  return r && r->var == var;
}

/// What a block touches: the index lists of its stores and loads by buffer, the variables it
/// declares and assigns, and whether its workers synchronize.
struct Accesses {
  std::map<int, std::vector<const std::vector<Expr> *>> stores, loads;
  std::set<int> declared, assigned;
  bool synchronizes = false;

  void expr(const Expr &e) {
    std::visit([&](const auto &n) { node(n); }, e->node);
  }
  void node(const Const &) {}
  void node(const VarRef &) {}
  void node(const Load &n) {
    loads[n.buffer].push_back(&n.indices);
    for (const Expr &i : n.indices)
      expr(i);
  }
  void node(const Unary &n) { expr(n.x); }
  void node(const Binary &n) {
    expr(n.a);
    expr(n.b);
  }
  void node(const Select &n) {
    expr(n.cond);
    expr(n.a);
    expr(n.b);
  }
  void node(const Cast &n) { expr(n.x); }
  void node(const Philox &n) {
    expr(n.key_lo);
    expr(n.key_hi);
    expr(n.counter);
  }

  void block(const Block &b) {
    for (const Stmt &s : b)
      std::visit([&](const auto &n) { stmt(n); }, s.node);
  }
  void stmt(const Loop &l) {
    declared.insert(l.var);
    block(l.body);
  }
  void stmt(const Store &s) {
    stores[s.buffer].push_back(&s.indices);
    for (const Expr &i : s.indices)
      expr(i);
    expr(s.value);
  }
  void stmt(const Let &s) {
    declared.insert(s.var);
    expr(s.value);
  }
  void stmt(const Accumulator &s) {
    declared.insert(s.var);
    expr(s.init);
  }
  void stmt(const Assign &s) {
    assigned.insert(s.var);
    expr(s.value);
  }
  void stmt(const Barrier &) { synchronizes = true; }
  void stmt(const GroupReduce &) { synchronizes = true; }
  void stmt(const Check &s) {
    expr(s.ok);
    expr(s.position);
  }
  void stmt(const If &s) {
    expr(s.cond);
    block(s.body);
  }
};

/// Whether two buffers may be one allocation: the memory plan computes a node in place over
/// an operand of its result's shape and dtype only.
bool mayAlias(const Buffer &read, const Buffer &written) {
  return read.role == Role::Read && read.shape == written.shape &&
         dtypeSize(read.dtype) == dtypeSize(written.dtype);
}

/// Whether the iterations of a serial loop touch disjoint elements and share no variable, so
/// that they may run in any order or at once.
bool independent(const Kernel &k, const Loop &l) {
  Accesses a;
  a.block(l.body);
  if (a.synchronizes)
    return false;
  for (int v : a.assigned)
    if (!a.declared.count(v))
      return false;
  for (const auto &[buffer, stores] : a.stores) {
    // The positions that the loop's variable itself indexes in every access to the buffer:
    // iterations then reach disjoint elements of it.
    std::vector<bool> common(stores.front()->size(), true);
    auto narrow = [&](const std::vector<Expr> &indices) {
      for (size_t p = 0; p < common.size(); ++p)
        common[p] = common[p] && p < indices.size() && isVar(indices[p], l.var);
    };
    for (const std::vector<Expr> *s : stores)
      narrow(*s);
    // Loads of the buffer itself, and of any operand the plan may have placed over it.
    for (const auto &[read, loads] : a.loads)
      if (read == buffer || mayAlias(k.buffers[read], k.buffers[buffer]))
        for (const std::vector<Expr> *load : loads)
          narrow(*load);
    if (std::find(common.begin(), common.end(), true) == common.end())
      return false;
  }
  return true;
}

/// The loop that is the only statement of a block, or nullptr.
Loop *onlyLoop(Block &b) { return b.size() == 1 ? std::get_if<Loop>(&b[0].node) : nullptr; }

} // namespace

Kernel flattenParallelLoops(Kernel k) {
  Loop *top = onlyLoop(k.body);
  if (!top || top->kind != LoopKind::Parallel)
    return k;
  std::vector<Loop *> nest = {top};
  while (Loop *inner = onlyLoop(nest.back()->body)) {
    if (inner->kind == LoopKind::Serial && independent(k, *inner))
      inner->kind = LoopKind::Parallel;
    if (inner->kind != LoopKind::Parallel)
      break;
    nest.push_back(inner);
  }
  if (nest.size() == 1)
    return k;

  // flat = ((i0 * e1 + i1) * e2 + i2) ...; each index is a quotient and a remainder of it.
  int flat = k.addVar("flat", ScalarType::index);
  Expr f = varRef(k, flat);
  int64_t total = 1, stride = 1;
  for (const Loop *l : nest)
    total *= l->extent;
  Block body;
  for (size_t i = nest.size(); i-- > 0;) {
    Expr q = stride == 1 ? f : div(f, intConst(stride));
    Expr index = i == 0 ? q : binary(BinaryOp::Rem, q, intConst(nest[i]->extent));
    body.insert(body.begin(), let(nest[i]->var, index));
    stride *= nest[i]->extent;
  }
  for (Stmt &s : nest.back()->body)
    body.push_back(std::move(s));
  k.body = {loop(flat, LoopKind::Parallel, total, std::move(body))};
  assertValid(k);
  return k;
}

} // namespace kiln::kernel
