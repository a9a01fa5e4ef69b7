#include "ir/fusion_group.h"

#include <algorithm>
#include <map>

namespace kiln {

bool isFusionMember(const Node &n) {
  return n.results.size() == 1 &&
         (n.op->elementwise || n.is(op::BroadcastTo) || n.is(op::Iota) || n.is(op::RandomUniform));
}

bool readsWhole(const Node &member, const Value *v) {
  return member.is(op::RandomUniform) && member.operands[0] == v;
}

std::optional<Shape> fusionLoopShape(const Node &n) {
  if (isFusionMember(n))
    return n.result()->type.shape;
  if (n.is(op::ReduceSum) || n.is(op::ReduceMax) || n.is(op::ReduceMean))
    return n.operands[0]->type.shape;
  return std::nullopt;
}

void verifyFusionGroups(const Graph &g) {
  std::map<int, std::vector<const Node *>> groups;
  for (const auto &n : g.nodes())
    if (n->group >= 0)
      groups[n->group].push_back(n.get());
  for (const auto &[id, members] : groups) {
    const Node &root = *members.back();
    std::optional<Shape> shape = fusionLoopShape(root);
    if (!shape)
      throw Error(root.loc, fmt::format("fusion group {} ends at a {}, which cannot end a group",
                                        id, root.name()));
    for (size_t i = 0; i + 1 < members.size(); ++i) {
      const Node &m = *members[i];
      if (!isFusionMember(m))
        throw Error(m.loc, fmt::format("fusion group {}: a {} can only end a group", id, m.name()));
      if (m.result()->type.shape != *shape)
        throw Error(m.loc,
                    fmt::format("fusion group {}: {} gives {}, not the loop shape {}", id, m.name(),
                                shapeStr(m.result()->type.shape), shapeStr(*shape)));
      for (const Node *user : m.result()->users) {
        if (user->group != id)
          throw Error(m.loc, fmt::format("fusion group {}: the {} is read by a {} outside the "
                                         "group",
                                         id, m.name(), user->name()));
        if (readsWhole(*user, m.result()))
          throw Error(m.loc, fmt::format("fusion group {}: the {} is read whole by a {} of the "
                                         "group, so it must be computed before it",
                                         id, m.name(), user->name()));
      }
    }
  }
}

} // namespace kiln
