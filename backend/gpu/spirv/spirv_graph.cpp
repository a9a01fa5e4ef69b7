// A graph's kernels, found as kernel::printKernels finds them, and their SPIR-V assembly.

#include "backend/gpu/spirv/spirv_graph.h"

#include "backend/kernel/lower.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

namespace kiln::spirv {

std::vector<kernel::Kernel> graphKernels(const Graph &graph, std::vector<std::string> *fallbacks) {
  std::unordered_map<const Node *, kernel::Kernel> group_kernels;
  std::unordered_set<const Node *> in_groups;
  for (const kernel::FusionGroup &g : kernel::fusionGroups(graph))
    if (std::optional<kernel::Kernel> k = kernel::lowerGroup(g)) {
      in_groups.insert(g.members.begin(), g.members.end());
      group_kernels.emplace(g.members.back(), std::move(*k));
    }
  std::vector<kernel::Kernel> out;
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node &n = *graph.nodes()[i];
    if (auto group = group_kernels.find(&n); group != group_kernels.end()) {
      out.push_back(std::move(group->second));
      continue;
    }
    if (in_groups.count(&n))
      continue;
    std::string name = fmt::format("{}_{}", n.name(), i);
    if (std::optional<kernel::Kernel> k = kernel::lowerNode(n)) {
      k->name = name;
      out.push_back(std::move(*k));
    } else if (fallbacks) {
      fallbacks->push_back(name);
    }
  }
  return out;
}

std::string printSpirv(const Graph &graph, const SpirvOptions &o) {
  std::vector<std::string> fallbacks;
  std::string out;
  SpirvOptions plain = o;
  plain.optimize = false;
  for (const kernel::Kernel &k : graphKernels(graph, &fallbacks))
    out += compileSpirv(k, plain).assembly;
  for (const std::string &name : fallbacks)
    out += fmt::format("fallback @{}: no kernel\n", name);
  return out;
}

} // namespace kiln::spirv
