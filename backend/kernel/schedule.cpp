// The kernels of a graph in launch order: fusion groups lowered at their roots, the other nodes
// one by one.

#include "backend/kernel/schedule.h"

#include "backend/kernel/lower.h"
#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

namespace kiln::kernel {

std::vector<ScheduledKernel> scheduleKernels(const Graph &graph) {
  std::unordered_map<const Node *, ScheduledKernel> groups;
  std::unordered_set<const Node *> in_groups;
  for (const FusionGroup &g : fusionGroups(graph))
    if (std::optional<Kernel> k = lowerGroup(g)) {
      in_groups.insert(g.members.begin(), g.members.end());
      ScheduledKernel s{.name = k->name, .node = g.members.back(), .kernel = std::move(k)};
      s.values.assign(g.inputs.begin(), g.inputs.end());
      s.values.insert(s.values.end(), g.stored.begin(), g.stored.end());
      groups.emplace(g.members.back(), std::move(s));
    }
  std::vector<ScheduledKernel> out;
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node &n = *graph.nodes()[i];
    if (auto g = groups.find(&n); g != groups.end()) {
      out.push_back(std::move(g->second));
      continue;
    }
    if (in_groups.count(&n))
      continue;
    ScheduledKernel s{.name = fmt::format("{}_{}", n.name(), i), .node = &n};
    if ((s.kernel = lowerNode(n))) {
      s.kernel->name = s.name;
      s.values.assign(n.operands.begin(), n.operands.end());
      for (const auto &r : n.results)
        s.values.push_back(r.get());
      KILN_ASSERT(s.values.size() == s.kernel->parameters().size(),
                  "a kernel's parameters are not its node's operands and results");
    }
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace kiln::kernel
