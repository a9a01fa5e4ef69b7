#include "backend/kernel/flatten_parallel.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace kiln::kernel {
namespace {

/// Whether an expression is a reference to one of the variables.
bool isVar(const Expr &e, const std::set<int> &vars) {
  const auto *r = std::get_if<VarRef>(&e->node);
  return r && vars.count(r->var);
}

/// What a block touches: the index lists of its stores and loads by buffer, the variables it
/// declares and assigns, the lets that copy a variable, and whether its workers synchronize.
struct Accesses {
  std::map<int, std::vector<const std::vector<Expr> *>> stores, loads;
  std::set<int> declared, assigned;
  std::map<int, int> copies; ///< lets of one variable's value: let -> variable
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
    if (const auto *r = std::get_if<VarRef>(&s.value->node))
      copies[s.var] = r->var;
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
/// an operand of its result's shape and dtype only, and never one whose kernel is noalias.
bool mayAlias(const Kernel &k, const Buffer &read, const Buffer &written) {
  return !k.noalias && read.role == Role::Read && read.shape == written.shape &&
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
  // The loop's variable, and the lets that copy it (a fused loop's former variable).
  std::set<int> index = {l.var};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto &[copy, of] : a.copies)
      if (index.count(of) && index.insert(copy).second)
        grew = true;
  }
  for (const auto &[buffer, stores] : a.stores) {
    // The positions that the loop's variable itself (or a let copying it) indexes in every
    // access to the buffer: iterations then reach disjoint elements of it.
    std::vector<bool> common(stores.front()->size(), true);
    auto narrow = [&](const std::vector<Expr> &indices) {
      for (size_t p = 0; p < common.size(); ++p)
        common[p] = common[p] && p < indices.size() && isVar(indices[p], index);
    };
    for (const std::vector<Expr> *s : stores)
      narrow(*s);
    // Loads of the buffer itself, and of any operand the plan may have placed over it.
    for (const auto &[read, loads] : a.loads)
      if (read == buffer || mayAlias(k, k.buffers[read], k.buffers[buffer]))
        for (const std::vector<Expr> *load : loads)
          narrow(*load);
    if (std::find(common.begin(), common.end(), true) == common.end())
      return false;
  }
  return true;
}

/// The loop that is the only statement of a block, or nullptr.
Loop *onlyLoop(Block &b) { return b.size() == 1 ? std::get_if<Loop>(&b[0].node) : nullptr; }

/// p { lets; j { body } } as j { p { lets; body } }: the serial loop that is the last
/// statement of a serial loop moves outside it, with the lets before it moved in.
Stmt interchanged(Loop p) {
  Loop j = std::move(std::get<Loop>(p.body.back().node));
  p.body.pop_back();
  for (Stmt &s : j.body)
    p.body.push_back(std::move(s));
  j.body.clear();
  j.body.push_back(Stmt{std::move(p)});
  return Stmt{std::move(j)};
}

/// Whether a loop holds lets and then one serial loop, and nothing else.
bool interchangeable(const Loop &p) {
  if (p.kind != LoopKind::Serial || p.body.empty())
    return false;
  const auto *j = std::get_if<Loop>(&p.body.back().node);
  if (!j || j->kind != LoopKind::Serial)
    return false;
  return std::all_of(p.body.begin(), p.body.end() - 1,
                     [](const Stmt &s) { return std::holds_alternative<Let>(s.node); });
}

/// A block of loops made one loop, so that the loop may become parallel: each serial loop
/// of lets and one inner serial loop is interchanged with that inner loop, and then
/// consecutive serial loops of one extent are fused, the later ones' variables let equal to
/// the first's. A matmul's row of i-p-j order (zero the row over j, then for each p add a
/// row over j) becomes one loop over j that zeroes and sums its element over p. The result
/// must be a loop whose iterations are independent; that alone makes the rewrite right, as
/// every statement instance keeps its order among those of its own iteration, and instances
/// of different iterations touch disjoint elements. Anything else gives nullopt.
std::optional<Stmt> joinedLoop(const Kernel &k, const Block &block) {
  Block loops;
  for (const Stmt &s : block) {
    const auto *l = std::get_if<Loop>(&s.node);
    if (!l || l->kind != LoopKind::Serial)
      return std::nullopt;
    loops.push_back(interchangeable(*l) ? interchanged(*l) : s);
  }
  Loop joined = std::move(std::get<Loop>(loops.front().node));
  for (size_t i = 1; i < loops.size(); ++i) {
    Loop &next = std::get<Loop>(loops[i].node);
    if (next.extent != joined.extent)
      return std::nullopt;
    joined.body.push_back(let(next.var, varRef(k, joined.var)));
    for (Stmt &s : next.body)
      joined.body.push_back(std::move(s));
  }
  if (!independent(k, joined))
    return std::nullopt;
  return Stmt{std::move(joined)};
}

} // namespace

Kernel flattenParallelLoops(Kernel k) {
  Loop *top = onlyLoop(k.body);
  if (!top || top->kind != LoopKind::Parallel)
    return k;
  std::vector<Loop *> nest = {top};
  while (true) {
    Block &body = nest.back()->body;
    Loop *inner = onlyLoop(body);
    bool stuck = !inner || (inner->kind == LoopKind::Serial && !independent(k, *inner));
    if (stuck && !body.empty())
      if (std::optional<Stmt> joined = joinedLoop(k, body)) {
        body.clear();
        body.push_back(std::move(*joined));
        inner = onlyLoop(body);
      }
    if (!inner)
      break;
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
