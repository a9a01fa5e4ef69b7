// Lowering, memory plan and schedule of a graph as a GpuProgram.

#include "backend/gpu/program/program_builder.h"

#include "backend/backend.h"
#include "backend/kernel/lower.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace kiln::gpu {
namespace {

using Kind = ProgramBuffer::Kind;

/// Where the values of a graph live in a program's buffers.
class Layout {
public:
  Layout(const Graph &g, const MemoryPlan &plan, GpuProgram &p) : graph_(g) {
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      const Value *v = g.inputs()[i].value.get();
      slices_[v] = add(p, Kind::Input, static_cast<int>(i), byteSize(v->type));
    }
    std::vector<int> arenas;
    for (size_t a = 0; a < plan.arena_sizes.size(); ++a)
      arenas.push_back(add(p, Kind::Arena, static_cast<int>(a), plan.arena_sizes[a]).buffer);
    std::vector<int> outputs(g.outputs().size(), -1);
    for (const PlannedValue &pv : plan.values)
      if (pv.home == ValueHome::Output)
        outputs[*pv.output] = add(p, Kind::Output, static_cast<int>(*pv.output), pv.size).buffer;
    for (const PlannedValue &pv : plan.values) {
      Slice s{.bytes = byteSize(pv.value->type)};
      switch (pv.home) {
      case ValueHome::Arena:
        s.buffer = arenas[pv.arena];
        s.offset = pv.offset;
        break;
      case ValueHome::Output:
        s.buffer = outputs[*pv.output];
        break;
      case ValueHome::Input:
        s.buffer = static_cast<int>(*pv.input);
        break;
      }
      slices_[pv.value] = s;
    }
  }

  /// The slice of a value that has a home; a value inside a kernel has none.
  const Slice &of(const Value *v) const {
    auto s = slices_.find(v);
    KILN_ASSERT(s != slices_.end(), "a value inside a kernel has no buffer");
    return s->second;
  }

private:
  static Slice add(GpuProgram &p, Kind kind, int index, int64_t bytes) {
    p.buffers.push_back(ProgramBuffer{.kind = kind, .index = index, .bytes = bytes});
    return Slice{.buffer = static_cast<int>(p.buffers.size() - 1), .bytes = bytes};
  }

  const Graph &graph_;
  std::unordered_map<const Value *, Slice> slices_;
};

bool usesF64(const kernel::Kernel &k) {
  for (const kernel::Buffer &b : k.buffers)
    if (b.dtype == DType::f64)
      return true;
  return false;
}

} // namespace

BuiltProgram buildProgram(const Graph &source, const ProgramTarget &target) {
  std::shared_ptr<Graph> graph = source.clone();
  kernel::dropUnlowerableGroups(*graph);
  MemoryPlan plan = planMemory(*graph, target.plan);
  BuiltProgram built{.program = std::make_shared<GpuProgram>(), .graph = graph};
  GpuProgram &p = *built.program;
  p.signature = signatureOf(*graph);
  p.alignment = target.plan.alignment;
  p.max_buffer_bytes = plan.max_buffer_bytes;
  p.peak_bytes = plan.peak_bytes;
  Layout layout(*graph, plan, p);

  std::unordered_map<const Node *, int> node_index;
  for (size_t i = 0; i < graph->nodes().size(); ++i)
    node_index[graph->nodes()[i].get()] = static_cast<int>(i);
  auto refOf = [&](const Value *v) {
    return ValueRef{.node = v->def ? node_index.at(v->def) : -1, .index = v->index};
  };

  std::unordered_map<const Node *, kernel::FusionGroup> group_of_root;
  std::unordered_set<const Node *> grouped;
  for (kernel::FusionGroup &g : kernel::fusionGroups(*graph)) {
    grouped.insert(g.members.begin(), g.members.end());
    group_of_root.emplace(g.members.back(), std::move(g));
  }
  std::map<std::string, int64_t> fallbacks;
  std::unordered_map<std::string, std::optional<int>> kernel_of_identity;
  struct PendingTraps {
    size_t step;
    int64_t slots;
  };
  std::vector<PendingTraps> pending;
  int64_t trap_bytes = 0;
  for (size_t i = 0; i < graph->nodes().size(); ++i) {
    const Node &n = *graph->nodes()[i];
    if (grouped.count(&n) && !group_of_root.count(&n))
      continue; // computed at its group's root
    std::vector<const Node *> nodes;
    std::vector<const Value *> inputs, stored;
    std::optional<kernel::Kernel> k;
    if (auto g = group_of_root.find(&n); g != group_of_root.end()) {
      k = kernel::lowerGroup(g->second);
      KILN_ASSERT(k, "a group that does not lower was left in the graph");
      nodes = g->second.members;
      inputs = g->second.inputs;
      stored = g->second.stored;
    } else {
      if ((k = kernel::lowerNode(n)))
        k->name = fmt::format("{}_{}", n.name(), i);
      nodes = {&n};
      inputs.assign(n.operands.begin(), n.operands.end());
      for (const auto &r : n.results)
        stored.push_back(r.get());
    }

    std::optional<int> kernel_index;
    if (k) {
      std::string id = kernel::identity(*k);
      if (auto c = kernel_of_identity.find(id); c != kernel_of_identity.end()) {
        kernel_index = c->second;
      } else {
        std::optional<ProgramKernel> compiled = target.compile(*k);
        if (compiled) {
          compiled->name = k->name;
          compiled->identity = id;
          compiled->bindings =
              static_cast<int>(k->parameters().size()) + (k->traps.empty() ? 0 : 1);
          compiled->uses_f64 = usesF64(*k);
          p.kernels.push_back(std::move(*compiled));
          kernel_index = static_cast<int>(p.kernels.size() - 1);
        }
        kernel_of_identity.emplace(id, kernel_index);
      }
    }
    if (!kernel_index) {
      HostStep h{.id = static_cast<int>(built.host.size())};
      HostNodes hn;
      for (const Node *m : nodes) {
        ++fallbacks[std::string(m->name())];
        hn.nodes.push_back(node_index.at(m));
        h.what += (h.what.empty() ? "" : " ") + std::string(m->name());
      }
      for (const Value *v : inputs) {
        h.inputs.push_back(layout.of(v));
        h.input_types.push_back(v->type);
        hn.inputs.push_back(refOf(v));
      }
      for (const Value *v : stored) {
        h.stored.push_back(layout.of(v));
        h.stored_types.push_back(v->type);
        hn.stored.push_back(refOf(v));
      }
      built.host.push_back(std::move(hn));
      p.steps.emplace_back(std::move(h));
      continue;
    }
    ++p.num_kernels;
    const ProgramKernel &pk = p.kernels[*kernel_index];
    if (pk.workgroups == 0 || pk.grid == 0)
      continue; // an empty kernel: nothing to run
    DispatchStep d{.kernel = *kernel_index, .loc = n.loc};
    std::vector<int> params = k->parameters();
    KILN_ASSERT(params.size() == inputs.size() + stored.size(),
                "a kernel's parameters are not its node's operands and results");
    for (const Value *v : inputs)
      d.bindings.push_back(layout.of(v));
    for (const Value *v : stored) {
      d.bindings.push_back(layout.of(v));
      d.bindings.back().written = true;
    }
    for (const kernel::Trap &t : k->traps) {
      auto at = std::find(params.begin(), params.end(), t.buffer);
      KILN_ASSERT(at != params.end(), "a trap reports on a buffer that is no parameter");
      d.traps.push_back(ProgramTrap{.message = t.message,
                                    .binding = static_cast<int>(at - params.begin()),
                                    .dtype = k->buffers[t.buffer].dtype});
    }
    if (!d.traps.empty()) {
      int64_t slots = static_cast<int64_t>(d.traps.size());
      d.bindings.push_back(Slice{.offset = trap_bytes, .bytes = 8 * slots, .written = true});
      pending.push_back({p.steps.size(), slots});
      trap_bytes = alignUp(trap_bytes + 8 * slots, p.alignment);
    }
    p.steps.emplace_back(std::move(d));
  }
  // The trap buffer's size is known once every step has its error slots.
  if (trap_bytes > 0) {
    p.buffers.push_back(ProgramBuffer{.kind = Kind::Traps, .index = 0, .bytes = trap_bytes});
    for (const PendingTraps &t : pending)
      std::get<DispatchStep>(p.steps[t.step]).bindings.back().buffer =
          static_cast<int>(p.buffers.size() - 1);
  }
  for (const GraphOutput &out : graph->outputs()) {
    const Value *v = out.value;
    if (!v->def)
      p.outputs.push_back(ProgramOutput{.input = static_cast<size_t>(v->index)});
    else
      p.outputs.push_back(ProgramOutput{.slice = layout.of(v)});
  }
  p.fallbacks.assign(fallbacks.begin(), fallbacks.end());
  return built;
}

} // namespace kiln::gpu
