#include "ir/dot.h"

#include <unordered_map>

namespace kiln {

namespace {

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n"; // a line break inside a Graphviz label
      continue;
    }
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

} // namespace

std::string printDot(const Graph &g) {
  std::unordered_map<const Value *, std::string> source;
  std::string out =
      fmt::format("digraph {} {{\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
                  quoted(g.name()));
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const GraphInput &in = g.inputs()[i];
    std::string id = fmt::format("in{}", i);
    source[in.value.get()] = id;
    out += fmt::format(
        "  {} [shape=ellipse, label={}];\n", id,
        quoted(fmt::format("{} %{}\n{}", inputKindName(in.kind), in.name, in.value->type.str())));
  }
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node &n = *g.nodes()[i];
    std::string id = fmt::format("n{}", i);
    std::string types;
    for (const auto &r : n.results)
      types += (types.empty() ? "" : ", ") + r->type.str();
    out += fmt::format("  {} [shape=box, label={}];\n", id,
                       quoted(fmt::format("%{} = {}\n{}", i, n.name(), types)));
    for (size_t r = 0; r < n.results.size(); ++r)
      source[n.results[r].get()] = id;
    for (const Value *v : n.operands)
      out += fmt::format("  {} -> {};\n", source.at(v), id);
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const GraphOutput &o = g.outputs()[i];
    out += fmt::format("  out{} [shape=doubleoctagon, label={}];\n  {} -> out{};\n", i,
                       quoted(o.name), source.at(o.value), i);
  }
  return out + "}\n";
}

} // namespace kiln
