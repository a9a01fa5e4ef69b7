#include "ir/dot.h"

#include "ir/attributes.h"

#include <map>
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

/// The levels of a module scope: "decoder.layers.1.self_attn" gives decoder, layers.1 and
/// self_attn, a layer's index staying with its list, so that each layer is one box.
std::vector<std::string> levelsOf(const std::string &scope) {
  std::vector<std::string> levels;
  size_t start = 0;
  while (start < scope.size()) {
    size_t dot = scope.find('.', start);
    std::string part = scope.substr(start, dot == std::string::npos ? dot : dot - start);
    bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    if (index && !levels.empty())
      levels.back() += "." + part;
    else
      levels.push_back(part);
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return levels;
}

/// The attributes worth a glance: those that differ from their defaults, a constant's value
/// only when it is one number.
std::string keyAttributes(const Node &n) {
  std::string out;
  for (const auto &[name, value] : n.attrs) {
    const AttrSpec *spec = n.op->attrSpec(name);
    if (spec && spec->default_value && *spec->default_value == value)
      continue;
    const auto *values = std::get_if<FloatList>(&value);
    if (values && values->size() > 1)
      continue;
    out += fmt::format("\n{} = {}", name, attrStr(value));
  }
  return out;
}

/// The boxes of the module scopes: each holds its statements and the boxes inside it.
struct Cluster {
  std::string statements;
  std::map<std::string, Cluster> inside;

  /// The cluster of `scope`, cut to its first `depth` levels (all of them when depth < 0).
  Cluster &at(const std::string &scope, int depth) {
    Cluster *c = this;
    std::vector<std::string> levels = levelsOf(scope);
    for (size_t i = 0; i < levels.size() && (depth < 0 || static_cast<int>(i) < depth); ++i)
      c = &c->inside[levels[i]];
    return *c;
  }

  void print(std::string &out, const std::string &prefix, int &count, int indent) const {
    std::string pad(indent, ' ');
    for (const auto &[level, box] : inside) {
      std::string scope = prefix.empty() ? level : prefix + "." + level;
      out += fmt::format("{}subgraph cluster_{} {{\n{}  label={};\n", pad, count++, pad,
                         quoted(scope));
      box.print(out, scope, count, indent + 2);
      out += pad + "}\n";
    }
    for (size_t start = 0; start < statements.size();) {
      size_t end = statements.find('\n', start);
      out += pad + statements.substr(start, end - start + 1);
      start = end + 1;
    }
  }
};

/// A parameter's scope: its name without the last part ("encoder.layers.0.norm1" of
/// "encoder.layers.0.norm1.weight").
std::string paramScope(const GraphInput &in) {
  size_t dot = in.name.rfind('.');
  return in.kind == InputKind::Parameter && dot != std::string::npos ? in.name.substr(0, dot) : "";
}

} // namespace

std::string printDot(const Graph &g, const DotOptions &opts) {
  std::unordered_map<const Value *, std::string> source;
  Cluster top;
  std::string edges;
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const GraphInput &in = g.inputs()[i];
    std::string id = fmt::format("in{}", i);
    source[in.value.get()] = id;
    top.at(paramScope(in), opts.depth).statements += fmt::format(
        "{} [shape=ellipse, label={}];\n", id,
        quoted(fmt::format("{} %{}\n{}", inputKindName(in.kind), in.name, in.value->type.str())));
  }
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node &n = *g.nodes()[i];
    std::string id = fmt::format("n{}", i);
    std::string types;
    for (const auto &r : n.results)
      types += (types.empty() ? "" : ", ") + r->type.str();
    top.at(n.loc.scope, opts.depth).statements +=
        fmt::format("{} [shape=box, label={}];\n", id,
                    quoted(fmt::format("%{} = {}{}\n{}", i, n.name(), keyAttributes(n), types)));
    for (size_t r = 0; r < n.results.size(); ++r)
      source[n.results[r].get()] = id;
    for (const Value *v : n.operands)
      edges += fmt::format("  {} -> {} [label={}];\n", source.at(v), id, quoted(v->type.str()));
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const GraphOutput &o = g.outputs()[i];
    top.statements += fmt::format("out{} [shape=doubleoctagon, label={}];\n", i, quoted(o.name));
    edges += fmt::format("  {} -> out{};\n", source.at(o.value), i);
  }
  std::string out =
      fmt::format("digraph {} {{\n  rankdir=TB;\n  newrank=true;\n  node [fontname=\"monospace\", "
                  "fontsize=10];\n  edge [fontname=\"monospace\", fontsize=8];\n",
                  quoted(g.name()));
  int count = 0;
  top.print(out, "", count, 2);
  return out + edges + "}\n";
}

} // namespace kiln
