// fuse-elementwise: groups producer-consumer chains of elementwise ops, broadcasts and random
// numbers, ending in an elementwise op or a reduction, so that a backend runs each group as one
// kernel: the residual add, bias + activation, dropout and masking, the loss tail, each
// parameter's optimizer update. The graph's values do not change; each node of a group is
// marked `group(N)`, and a backend computes the group's intermediate values in registers.
//
// A group has one loop shape: the root's result shape, or a reduction root's operand shape.
// A producer joins a group when
//   - it is elementwise, a broadcast_to, an iota or a random_uniform (element i of its result
//     depends on element i of its operands after broadcasting, or on i alone),
//   - its result has the group's loop shape (a smaller result that a member broadcasts would
//     be computed again for every element it is broadcast to), and
//   - every node that reads it is in the group (else it would be computed twice); it may also
//     be a graph output, which the group's kernel then stores as well, and
//   - no member reads it whole (a random_uniform's key), which a kernel computing one element
//     at a time cannot give.
// A reduction is only ever a group's root: as a member, its result would be recomputed for
// every element of the broadcast that reads it.

#include "ir/fusion_group.h"
#include "passes/pass.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

/// "12:5": where a node is, in a remark about another node of the same file.
std::string lineCol(const Location &loc) { return fmt::format("{}:{}", loc.line, loc.col); }

class FuseElementwisePass : public Pass {
public:
  std::string_view name() const override { return "fuse-elementwise"; }

  bool run(Graph &g, PassContext &ctx) override {
    // Groups are formed afresh, so running the pass twice gives the same groups.
    for (auto &n : g.nodes())
      n->group = -1;
    std::unordered_map<const Node *, size_t> position;
    for (size_t i = 0; i < g.nodes().size(); ++i)
      position[g.nodes()[i].get()] = i;

    std::unordered_map<const Node *, int> group_of;
    std::vector<std::vector<Node *>> groups;
    for (size_t i = g.nodes().size(); i-- > 0;) {
      Node &root = *g.nodes()[i];
      std::optional<Shape> shape = fusionLoopShape(root);
      if (!shape || group_of.count(&root))
        continue;
      std::vector<Node *> members = grow(root, *shape, position, group_of, ctx);
      if (members.size() < 2)
        continue;
      for (Node *m : members)
        group_of[m] = static_cast<int>(groups.size());
      groups.push_back(std::move(members));
    }
    // Number groups by their root's position, so printing is stable and reads top-down.
    std::vector<size_t> order(groups.size());
    for (size_t k = 0; k < order.size(); ++k)
      order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return position.at(groups[a].front()) < position.at(groups[b].front());
    });
    int64_t fused = 0;
    for (size_t k = 0; k < order.size(); ++k)
      for (Node *m : groups[order[k]]) {
        m->group = static_cast<int>(k);
        ++fused;
      }
    ctx.count("groups", static_cast<int64_t>(groups.size()));
    ctx.count("nodes fused", fused);
    ctx.count("kernels saved", fused - static_cast<int64_t>(groups.size()));
    return !groups.empty();
  }

private:
  /// The members of the group rooted at `root`: producers are considered from the last in the
  /// graph to the first, so each is looked at after every node that reads it.
  static std::vector<Node *> grow(Node &root, const Shape &shape,
                                  const std::unordered_map<const Node *, size_t> &position,
                                  const std::unordered_map<const Node *, int> &group_of,
                                  PassContext &ctx) {
    std::vector<Node *> members{&root};
    std::unordered_set<const Node *> in_group{&root};
    auto later = [&](const Node *a, const Node *b) { return position.at(a) < position.at(b); };
    std::priority_queue<Node *, std::vector<Node *>, decltype(later)> frontier(later);
    std::unordered_set<const Node *> queued;
    auto push_producers = [&](const Node &n) {
      for (const Value *v : n.operands)
        if (v->def && queued.insert(v->def).second)
          frontier.push(v->def);
    };
    push_producers(root);
    while (!frontier.empty()) {
      Node *p = frontier.top();
      frontier.pop();
      if (group_of.count(p) || !isFusionMember(*p))
        continue;
      const Value *r = p->result();
      if (r->type.shape != shape) {
        ctx.missed(p->loc, fmt::format("{} gives {}, not the loop shape {} of the group ending at "
                                       "the {} at {}",
                                       p->name(), shapeStr(r->type.shape), shapeStr(shape),
                                       root.name(), lineCol(root.loc)));
        continue;
      }
      auto whole = std::find_if(r->users.begin(), r->users.end(),
                                [&](const Node *u) { return readsWhole(*u, r); });
      if (whole != r->users.end()) {
        ctx.missed(p->loc, fmt::format("the {} is the key of the {} at {}, which reads it whole: "
                                       "it is computed before the group ending at the {} at {}",
                                       p->name(), (*whole)->name(), lineCol((*whole)->loc),
                                       root.name(), lineCol(root.loc)));
        continue;
      }
      auto outside = std::find_if(r->users.begin(), r->users.end(),
                                  [&](const Node *u) { return !in_group.count(u); });
      if (outside != r->users.end()) {
        ctx.missed(p->loc, fmt::format("the {} is also read by the {} at {}, outside the group "
                                       "ending at the {} at {}",
                                       p->name(), (*outside)->name(), lineCol((*outside)->loc),
                                       root.name(), lineCol(root.loc)));
        continue;
      }
      members.push_back(p);
      in_group.insert(p);
      push_producers(*p);
    }
    return members;
  }
};

} // namespace

std::unique_ptr<Pass> createFuseElementwisePass(const PassOptions &) {
  return std::make_unique<FuseElementwisePass>();
}

} // namespace kiln
