// schedule-updates: moves each parameter's optimizer update to just after its gradient is
// complete, so the memory plan frees the gradient there instead of keeping every gradient
// until the end of the backward pass. The graph's values do not change, only the order of
// its nodes, which is the order backends run them and the memory plan packs them in.
//
// The nodes that may move are the updates': elementwise or scalar nodes whose results only
// reach outputs that update an input (the next parameters and optimizer state), scalar outputs
// (the learning rate, the loss) or other such nodes. Each is placed as soon as its operands are
// computed, and an update not before the other readers of the input it overwrites; those that
// read only inputs (the learning rate, which depends on the step alone; Adam's decayed
// moments) wait for their first user. The other nodes keep their order. Global-norm clipping
// needs every gradient's norm before any update, so with --clip-norm the updates stay after
// the backward pass.

#include "ir/fusion_group.h"
#include "passes/pass.h"

#include <functional>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

bool scalarResults(const Node &n) {
  for (const auto &r : n.results)
    if (r->type.rank() != 0)
      return false;
  return true;
}

/// The nodes that may move: they feed only updates, scalar outputs and each other.
std::unordered_set<const Node *> movableNodes(const Graph &g) {
  std::unordered_map<const Value *, bool> output_ok; // false when read by another output
  for (const GraphOutput &out : g.outputs()) {
    bool ok = !out.updates.empty() || out.value->type.rank() == 0;
    auto [it, fresh] = output_ok.emplace(out.value, ok);
    if (!fresh)
      it->second = it->second && ok;
  }
  std::unordered_set<const Node *> movable;
  for (size_t i = g.nodes().size(); i-- > 0;) {
    const Node &n = *g.nodes()[i];
    if (!(isFusionMember(n) || scalarResults(n) || n.operands.empty()))
      continue;
    bool used = false, only_updates = true;
    for (const auto &r : n.results) {
      if (auto it = output_ok.find(r.get()); it != output_ok.end()) {
        used = true;
        only_updates &= it->second;
      }
      for (const Node *user : r->users) {
        used = true;
        only_updates &= movable.count(user) > 0;
      }
    }
    if (used && only_updates)
      movable.insert(&n);
  }
  return movable;
}

class ScheduleUpdatesPass : public Pass {
public:
  std::string_view name() const override { return "schedule-updates"; }

  bool run(Graph &g, PassContext &ctx) override {
    std::unordered_set<const Node *> movable = movableNodes(g);
    std::unordered_map<const Node *, size_t> position;
    for (size_t i = 0; i < g.nodes().size(); ++i)
      position[g.nodes()[i].get()] = i;
    // A movable node that reads only inputs and other such nodes (the learning rate, Adam's
    // decayed moments) waits for its first user; the others go as soon as their operands are
    // computed. `waiting` counts the producers a node of the second kind still waits for.
    // An update written over its input in place must also wait for the input's other readers.
    std::unordered_map<const Value *, std::vector<const Node *>> overwrites;
    for (const GraphOutput &out : g.outputs())
      if (const GraphInput *in = out.updates.empty() ? nullptr : g.findInput(out.updates))
        for (const Node *user : in->value->users)
          if (!movable.count(user))
            overwrites[out.value].push_back(user);
    std::unordered_set<const Node *> lazy;
    std::unordered_map<const Node *, int> waiting;
    std::unordered_map<const Node *, std::vector<const Node *>> dependents;
    for (const auto &n : g.nodes()) {
      if (!movable.count(n.get()))
        continue;
      std::unordered_set<const Node *> producers;
      for (const Value *v : n->operands)
        if (v->def && !lazy.count(v->def))
          producers.insert(v->def);
      bool waits = !producers.empty();
      for (const auto &r : n->results)
        if (auto it = overwrites.find(r.get()); it != overwrites.end()) {
          producers.insert(it->second.begin(), it->second.end());
          waits = true; // an update never goes before a reader of what it overwrites
        }
      if (!waits) {
        lazy.insert(n.get());
        continue;
      }
      waiting[n.get()] = static_cast<int>(producers.size());
      for (const Node *p : producers)
        dependents[p].push_back(n.get());
    }
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    std::vector<bool> placed(g.nodes().size(), false);
    std::vector<size_t> order;
    order.reserve(g.nodes().size());
    std::function<void(size_t)> place = [&](size_t i) {
      if (placed[i])
        return;
      const Node *n = g.nodes()[i].get();
      for (const Value *v : n->operands)
        if (v->def && lazy.count(v->def))
          place(position.at(v->def));
      placed[i] = true;
      order.push_back(i);
      if (auto it = dependents.find(n); it != dependents.end())
        for (const Node *d : it->second)
          if (--waiting[d] == 0)
            ready.push(position.at(d));
    };
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      if (movable.count(g.nodes()[i].get()))
        continue;
      place(i);
      while (!ready.empty()) {
        size_t r = ready.top();
        ready.pop();
        place(r);
      }
    }
    for (size_t i = 0; i < g.nodes().size(); ++i) // lazy nodes no update pulled in
      place(i);
    KILN_ASSERT(order.size() == g.nodes().size(), "a node was placed twice or never");
    int64_t moved = 0;
    for (size_t k = 0; k < order.size(); ++k)
      moved += order[k] != k;
    std::vector<std::unique_ptr<Node>> nodes;
    nodes.reserve(order.size());
    for (size_t i : order)
      nodes.push_back(std::move(g.nodes()[i]));
    g.nodes() = std::move(nodes);
    ctx.count("movable nodes", static_cast<int64_t>(movable.size()));
    ctx.count("nodes moved", moved);
    return moved > 0;
  }
};

} // namespace

std::unique_ptr<Pass> createScheduleUpdatesPass(const PassOptions &) {
  return std::make_unique<ScheduleUpdatesPass>();
}

} // namespace kiln
