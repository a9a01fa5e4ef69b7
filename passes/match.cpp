#include "passes/match.h"

#include <unordered_set>

#include <algorithm>
#include <cmath>

namespace kiln::match {

Node *def(const Value *v, OpHandle op) {
  return v->def && v->def->is(op) && v->def->results.size() == 1 ? v->def : nullptr;
}

std::optional<double> splat(const Value *v) { return splatValue(v); }

std::optional<int64_t> singleAxis(const Node &reduction) {
  const IntList &axes = reduction.getInts("axes");
  if (axes.size() != 1)
    return std::nullopt;
  return normalizeAxis(axes[0], reduction.operands[0]->type.rank());
}

bool reducesLastAxisKept(const Node *n, OpHandle op) {
  if (!n || !n->is(op) || !n->getBool("keepdims"))
    return false;
  auto axis = singleAxis(*n);
  return axis && *axis == n->operands[0]->type.rank() - 1;
}

bool same(const Value *a, const Value *b, int depth) {
  if (a == b)
    return true;
  const Node *m = a->def, *n = b->def;
  // Distinct graph inputs are distinct values.
  if (!m || !n || depth == 0 || m->name() != n->name() || a->index != b->index ||
      a->type != b->type || m->operands.size() != n->operands.size() ||
      m->results.size() != n->results.size() || m->attrs.size() != n->attrs.size())
    return false;
  // Attributes compared as printed: exact, and -0.0 differs from 0.0 as it does in the IR.
  for (auto i = m->attrs.begin(), j = n->attrs.begin(); i != m->attrs.end(); ++i, ++j)
    if (i->first != j->first || attrStr(i->second) != attrStr(j->second))
      return false;
  for (size_t i = 0; i < m->operands.size(); ++i)
    if (!same(m->operands[i], n->operands[i], depth - 1))
      return false;
  return true;
}

bool onlyUsedBy(const Graph &g, const Value *v, std::initializer_list<const Node *> users) {
  for (const GraphOutput &o : g.outputs())
    if (o.value == v)
      return false;
  for (const Node *user : v->users)
    if (std::find(users.begin(), users.end(), user) == users.end())
      return false;
  return true;
}

std::string otherUser(const Graph &g, const Value *v, std::initializer_list<const Node *> users) {
  for (const GraphOutput &o : g.outputs())
    if (o.value == v)
      return fmt::format("the output {}", quoteBytes(o.name, '"'));
  for (const auto &n : g.nodes())
    for (const Value *operand : n->operands)
      if (operand == v &&
          std::find(users.begin(), users.end(), static_cast<const Node *>(n.get())) == users.end())
        return fmt::format(
            "{} {} at {}",
            std::string_view("aeiou").find(n->name()[0]) != std::string_view::npos ? "an" : "a",
            n->name(), n->loc.str());
  return "nothing else";
}

const GraphInput *inputBehind(const Graph &g, const Value *v,
                              const std::function<bool(const GraphInput &)> &want) {
  std::vector<const Value *> work{v};
  std::unordered_set<const Value *> seen;
  while (!work.empty()) {
    const Value *x = work.back();
    work.pop_back();
    if (!seen.insert(x).second)
      continue;
    if (!x->def) {
      for (const GraphInput &in : g.inputs())
        if (in.value.get() == x && want(in))
          return &in;
      continue;
    }
    for (const Value *o : x->def->operands)
      work.push_back(o);
  }
  return nullptr;
}

} // namespace kiln::match
