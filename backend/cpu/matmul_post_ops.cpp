#include "backend/cpu/matmul_post_ops.h"

#include "backend/cpu/kernel_choice.h"
#include "ir/op_handles.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>

namespace kiln::cpu {
namespace {

/// Where a value's bytes are: (kind, buffer, first byte, end), comparable for overlap. Graph
/// inputs and outputs written into the inputs they update share the caller's input buffers.
using Bytes = std::tuple<int, int64_t, int64_t, int64_t>;

class Placement {
public:
  explicit Placement(const MemoryPlan &plan) {
    for (const PlannedValue &pv : plan.values)
      planned_[pv.value] = &pv;
  }

  Bytes of(const Value *v) const {
    int64_t size = v->type.numElements() * dtypeSize(v->type.dtype);
    auto it = planned_.find(v);
    if (it == planned_.end()) // a graph input
      return {kInput, v->index, 0, size};
    const PlannedValue &pv = *it->second;
    switch (pv.home) {
    case ValueHome::Arena:
      return {kArena, pv.arena, pv.offset, pv.offset + size};
    case ValueHome::Output:
      return {kOutput, static_cast<int64_t>(*pv.output), 0, size};
    case ValueHome::Input:
      return {kInput, static_cast<int64_t>(*pv.input), 0, size};
    }
    return {};
  }

  bool overlap(const Value *a, const Value *b) const {
    auto [ka, ia, ba, ea] = of(a);
    auto [kb, ib, bb, eb] = of(b);
    return ka == kb && ia == ib && ba < eb && bb < ea;
  }

private:
  static constexpr int kArena = 0, kOutput = 1, kInput = 2;
  std::unordered_map<const Value *, const PlannedValue *> planned_;
};

bool isOutput(const Graph &g, const Value *v) {
  return std::any_of(g.outputs().begin(), g.outputs().end(),
                     [&](const GraphOutput &o) { return o.value == v; });
}

/// The nodes right after node `i` that may be its post-ops: the next node when it is in no
/// group, or the members of the group of the next node, when they are all the next nodes and
/// only the root's result leaves the group.
std::vector<const Node *> candidates(const Graph &g, size_t i) {
  const auto &nodes = g.nodes();
  if (i + 1 >= nodes.size())
    return {};
  const Node *next = nodes[i + 1].get();
  if (next->group < 0)
    return {next};
  std::vector<const Node *> members;
  for (size_t j = i + 1; j < nodes.size() && nodes[j]->group == next->group; ++j)
    members.push_back(nodes[j].get());
  // The run must be the whole group: members scheduled before the matmul, or after other nodes,
  // would be computed by nothing once the group is the matmul's post-ops.
  for (size_t j = 0; j < nodes.size(); ++j)
    if (nodes[j]->group == next->group && (j <= i || j >= i + 1 + members.size()))
      return {};
  for (size_t m = 0; m + 1 < members.size(); ++m)
    for (const Node *user : members[m]->result()->users)
      if (std::find(members.begin(), members.end(), user) == members.end())
        return {};
  return members;
}

} // namespace

std::vector<PostOpChain> matmulPostOps(const Graph &graph, const MemoryPlan &plan, CpuKernels mode,
                                       int threads) {
  std::vector<PostOpChain> chains;
  if (mode == CpuKernels::Jit)
    return chains;
  Placement placement(plan);
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node &m = *graph.nodes()[i];
    if (!m.is(op::Matmul) || chooseKernelPath(m, mode) != KernelPath::OneDnn)
      continue;
    std::vector<const Node *> links = candidates(graph, i);
    if (links.empty())
      continue;
    PostOpChain chain{&m, links, {}, nullptr};
    std::vector<onednn::PostOp> ops;
    const Value *carried = m.result();
    bool fits = true;
    for (const Node *link : links) {
      fits = carried->users.size() == 1 && carried->users[0] == link && !isOutput(graph, carried) &&
             link->result()->type == carried->type;
      if (fits && link->is(op::Relu)) {
        ops.push_back({onednn::PostOp::Relu, {}});
      } else if (fits && link->is(op::Add) && link->operands[0] != link->operands[1]) {
        const Value *addend = link->operands[link->operands[0] == carried ? 1 : 0];
        fits = std::find(links.begin(), links.end(), addend->def) == links.end();
        chain.addends.push_back(addend);
        ops.push_back({onednn::PostOp::Add, addend->type});
      } else {
        fits = false;
      }
      if (!fits)
        break;
      carried = link->result();
    }
    if (!fits)
      continue;
    const Value *result = links.back()->result();
    for (const Value *read : m.operands)
      fits = fits && !placement.overlap(result, read);
    for (const Value *read : chain.addends)
      fits = fits && !placement.overlap(result, read);
    if (fits && (chain.primitive = onednn::createMatmulWithPostOps(m, ops, threads)))
      chains.push_back(std::move(chain));
  }
  return chains;
}

} // namespace kiln::cpu
