// Fusion groups (fuse-elementwise's Node::group) as one kernel each: a loop nest over the
// group's loop shape whose body computes every member's value at one element, in graph order,
// as scalar lets. Values from outside the group are loaded through their numpy-broadcast view
// (a random_uniform's key, read whole, word by word); the root's result and every member that is a
// graph output are stored. A reduction root adds reduction loops inside the loops over its kept
// axes and stores its accumulator after them.
//
// The loops are collapsed as for one elementwise node, with two kinds of pseudo-operands that
// keep axes apart where a member needs them: an iota's axis, and a reduction's reduced axes.
// Collapsing keeps the row-major order of the elements, so random_uniform's Philox counter is
// still offset + the flat index of the element in the loop shape, as in the reference.

#include "backend/kernel/lowerings.h"

#include "ir/diagnostics.h"
#include "ir/fusion_group.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace kiln::kernel {
namespace {

/// Whether a group input is a Philox key: read whole by random_uniform members only, so it is
/// loaded word by word, never through a broadcast view.
bool isKey(const Value *v, const std::unordered_set<const Node *> &in_group) {
  return std::all_of(v->users.begin(), v->users.end(),
                     [&](const Node *u) { return !in_group.count(u) || readsWhole(*u, v); });
}

/// Whether the group meets fuse-elementwise's rules, which the kernel below relies on.
bool wellFormed(const FusionGroup &g, const Shape &loop, bool reduction) {
  std::unordered_set<const Node *> in_group(g.members.begin(), g.members.end());
  // A key comes from outside the group; read both as a key and elementwise, it would need two
  // views of one buffer.
  for (const Node *m : g.members)
    if (m->is(op::RandomUniform) &&
        (in_group.count(m->operands[0]->def) || !isKey(m->operands[0], in_group)))
      return false;
  const Node &root = *g.members.back();
  for (const Node *m : g.members) {
    if (m == &root && reduction)
      continue;
    if (!isFusionMember(*m) || m->result()->type.shape != loop)
      return false;
    if (m == &root)
      continue;
    // A value read by another kernel needs its own step.
    const Value *r = m->result();
    if (!std::all_of(r->users.begin(), r->users.end(),
                     [&](const Node *u) { return in_group.count(u) > 0; }))
      return false;
  }
  return true;
}

} // namespace

std::vector<FusionGroup> fusionGroups(const Graph &graph) {
  std::unordered_map<int, size_t> index;
  std::vector<FusionGroup> groups;
  for (const auto &n : graph.nodes()) {
    if (n->group < 0)
      continue;
    auto [it, fresh] = index.emplace(n->group, groups.size());
    if (fresh)
      groups.push_back(FusionGroup{.id = n->group});
    groups[it->second].members.push_back(n.get());
  }
  std::unordered_set<const Value *> outputs;
  for (const GraphOutput &o : graph.outputs())
    outputs.insert(o.value);
  for (FusionGroup &g : groups) {
    std::unordered_set<const Value *> produced, seen;
    for (const Node *m : g.members) {
      for (const Value *v : m->operands)
        if (!produced.count(v) && seen.insert(v).second)
          g.inputs.push_back(v);
      for (const auto &r : m->results)
        produced.insert(r.get());
    }
    for (const Node *m : g.members)
      for (const auto &r : m->results)
        if (m == g.members.back() || outputs.count(r.get()))
          g.stored.push_back(r.get());
  }
  return groups;
}

std::optional<Kernel> lowerGroup(const FusionGroup &g) {
  if (g.members.size() < 2)
    return std::nullopt;
  const Node &root = *g.members.back();
  std::optional<ReductionScalar> rs = reductionScalar(root);
  const Shape &loop = rs ? root.operands[0]->type.shape : root.result()->type.shape;
  if (numElements(loop) == 0 || !wellFormed(g, loop, rs.has_value()))
    return std::nullopt;
  size_t rank = loop.size();

  // The shapes that decide how the loops collapse: the inputs, then the pseudo-operands. A key
  // takes no part: it counts as a scalar here and is read word by word.
  std::unordered_set<const Node *> in_group(g.members.begin(), g.members.end());
  std::vector<Shape> shapes;
  for (const Value *v : g.inputs)
    shapes.push_back(isKey(v, in_group) ? Shape{} : v->type.shape);
  std::unordered_map<const Node *, size_t> iota_shape;
  for (const Node *m : g.members)
    if (m->is(op::Iota)) {
      Shape s(rank, 1);
      int64_t axis = *normalizeAxis(m->getInt("axis"), static_cast<int64_t>(rank));
      s[axis] = loop[axis];
      iota_shape[m] = shapes.size();
      shapes.push_back(s);
    }
  size_t kept_shape = shapes.size();
  if (rs) {
    Shape s = loop;
    for (int64_t a : root.getInts("axes"))
      s[*normalizeAxis(a, static_cast<int64_t>(rank))] = 1;
    shapes.push_back(s);
  }
  CollapsedBroadcast cb = collapseBroadcast(loop, shapes);

  Kernel k;
  k.name = fmt::format("group_{}", g.id);
  std::unordered_map<const Value *, int> buffer;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const TensorType &t = g.inputs[i]->type;
    buffer[g.inputs[i]] = k.addBuffer(fmt::format("in{}", i), t.dtype, t.shape, Role::Read);
    if (!isKey(g.inputs[i], in_group))
      setView(k, buffer[g.inputs[i]], cb.operands[i]);
  }
  // A reduction root's result holds the kept axes, in the order the loops run over them.
  Shape kept, reduced;
  std::vector<bool> is_reduced(cb.out.size(), false);
  for (size_t d = 0; d < cb.out.size(); ++d) {
    is_reduced[d] = rs && cb.operands[kept_shape][d] == 1;
    (is_reduced[d] ? reduced : kept).push_back(cb.out[d]);
  }
  bool stores_members = false;
  for (size_t j = 0; j < g.stored.size(); ++j) {
    const TensorType &t = g.stored[j]->type;
    int b = k.addBuffer(fmt::format("out{}", j), t.dtype, t.shape, Role::Write);
    bool reduced_root = rs && g.stored[j] == root.result();
    setView(k, b, reduced_root ? kept : cb.out);
    buffer[g.stored[j]] = b;
    stores_members |= !reduced_root;
  }

  // Stores of members may not sit in reduction loops, which only update accumulators.
  LoopNest outer = LoopNest::make(k, kept);
  LoopKind inner_kind = stores_members ? LoopKind::Serial : LoopKind::Reduction;
  LoopNest inner = LoopNest::make(k, reduced, inner_kind, inner_kind);
  std::vector<Expr> ko = outer.indices(k), ri = inner.indices(k), idx;
  for (size_t d = 0, a = 0, b = 0; d < cb.out.size(); ++d)
    idx.push_back(is_reduced[d] ? ri[b++] : ko[a++]);

  std::unordered_map<const Value *, Expr> value;
  auto valueOf = [&](const Value *v) {
    if (auto it = value.find(v); it != value.end())
      return it->second;
    size_t i = std::find(g.inputs.begin(), g.inputs.end(), v) - g.inputs.begin();
    return load(k, buffer.at(v), broadcastIndices(idx, cb.operands[i]));
  };
  Block body;
  for (const Node *m : g.members) {
    if (m == &root && rs)
      break;
    std::vector<Expr> args;
    if (!m->is(op::RandomUniform))
      for (const Value *v : m->operands)
        args.push_back(valueOf(v));
    std::optional<Expr> e;
    if (m->is(op::Iota)) {
      const Shape &view = cb.operands[iota_shape.at(m)];
      auto d = std::find_if(view.begin(), view.end(), [](int64_t n) { return n != 1; });
      e = iotaValue(*m, d == view.end() ? intConst(0) : idx[d - view.begin()]);
    } else if (m->is(op::RandomUniform)) {
      e = randomValue(*m, k, buffer.at(m->operands[0]), flatIndex(idx, cb.out));
    } else if (m->is(op::BroadcastTo)) {
      e = args[0]; // the load's index map is the broadcast
    } else {
      e = elementwiseValue(*m, args);
    }
    if (!e)
      return std::nullopt;
    // bf16 is a storage type: a member's bf16 value rounds as storing it would, so the group
    // gives the numbers of its nodes run one by one (the root rounds as it is stored).
    if (m->result()->type.dtype == DType::bf16 && m != &root)
      e = unary(UnaryOp::RoundBF16, *e);
    int var = k.addVar("v", (*e)->type);
    body.push_back(let(var, *e));
    value[m->result()] = varRef(k, var);
  }
  // Every value of the element is computed before the first store, so a result may be written
  // over an input that it alone reads.
  for (const Value *s : g.stored)
    if (!(rs && s == root.result()))
      body.push_back(store(buffer.at(s), idx, value.at(s)));
  if (!rs) {
    k.body = outer.wrap(std::move(body));
    assertValid(k);
    return k;
  }
  int acc = k.addVar("acc", rs->acc_type, true);
  body.push_back(assign(acc, rs->update(varRef(k, acc), valueOf(root.operands[0]))));
  Block per_output;
  per_output.push_back(accumulator(acc, rs->init));
  for (Stmt &s : inner.wrap(std::move(body)))
    per_output.push_back(std::move(s));
  per_output.push_back(
      store(buffer.at(root.result()), ko, rs->result(varRef(k, acc), root.result()->type.dtype)));
  k.body = outer.wrap(std::move(per_output));
  assertValid(k);
  return k;
}

void dropUnlowerableGroups(Graph &graph) {
  std::unordered_set<int> dropped;
  for (const FusionGroup &g : fusionGroups(graph))
    if (!lowerGroup(g))
      dropped.insert(g.id);
  for (const auto &n : graph.nodes())
    if (dropped.count(n->group))
      n->group = -1;
}

} // namespace kiln::kernel
