// Host steps on the reference kernels of the graph's nodes.

#include "backend/gpu/program/host_steps.h"

#include "ir/literal.h"
#include "ir/op.h"

#include <fmt/format.h>

#include <unordered_map>

namespace kiln::gpu {

const Value *resolve(const Graph &graph, const ValueRef &ref) {
  if (ref.node < 0) {
    if (ref.index < 0 || static_cast<size_t>(ref.index) >= graph.inputs().size())
      throw Error({}, fmt::format("the graph has no input {}", ref.index));
    return graph.inputs()[ref.index].value.get();
  }
  if (static_cast<size_t>(ref.node) >= graph.nodes().size() || ref.index < 0 ||
      static_cast<size_t>(ref.index) >= graph.nodes()[ref.node]->results.size())
    throw Error({}, fmt::format("the graph has no result {} of node {}", ref.index, ref.node));
  return graph.nodes()[ref.node]->results[ref.index].get();
}

HostSteps graphHostSteps(std::shared_ptr<const Graph> graph, std::vector<HostNodes> steps) {
  for (const HostNodes &h : steps) {
    for (int n : h.nodes)
      if (n < 0 || static_cast<size_t>(n) >= graph->nodes().size())
        throw Error({}, fmt::format("a host step names node {}; the graph has {}", n,
                                    graph->nodes().size()));
    for (const ValueRef &r : h.inputs)
      resolve(*graph, r);
    for (const ValueRef &r : h.stored)
      resolve(*graph, r);
  }
  return [graph = std::move(graph), steps = std::move(steps)](const HostStep &step,
                                                              std::span<const HostBuffer> inputs) {
    KILN_ASSERT(step.id >= 0 && static_cast<size_t>(step.id) < steps.size(),
                "a host step without nodes");
    const HostNodes &h = steps[step.id];
    const Node &first = *graph->nodes()[h.nodes.front()];
    std::unordered_map<const Value *, Literal> values;
    for (size_t j = 0; j < h.inputs.size(); ++j) {
      const HostBuffer &b = inputs[j];
      if (std::optional<int64_t> e = firstInexactInteger(b.type().dtype, b.bytes()))
        throw Error(first.loc,
                    fmt::format("element {} of an operand holds an integer beyond 2^53: the {} "
                                "runs on its reference kernel here, which computes integers "
                                "exactly up to 2^53 only",
                                *e, first.name()));
      values.emplace(resolve(*graph, h.inputs[j]), Literal::fromBytes(b.type(), b.bytes()));
    }
    for (int index : h.nodes) {
      const Node *n = graph->nodes()[index].get();
      std::vector<const Literal *> args;
      for (const Value *v : n->operands)
        args.push_back(&values.at(v));
      std::vector<Literal> results = n->op->reference(*n, args);
      KILN_ASSERT(results.size() == n->results.size(), "kernel returned a wrong result count");
      for (size_t i = 0; i < results.size(); ++i) {
        results[i].type = n->results[i]->type;
        results[i].roundToDType();
        values.insert_or_assign(n->results[i].get(), std::move(results[i]));
      }
    }
    std::vector<HostBuffer> out;
    for (const ValueRef &r : h.stored) {
      const Value *v = resolve(*graph, r);
      std::vector<std::byte> bytes = values.at(v).toBytes();
      out.emplace_back(v->type, bytes);
    }
    return out;
  };
}

} // namespace kiln::gpu
