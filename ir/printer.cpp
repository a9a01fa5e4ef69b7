#include "ir/printer.h"

#include "ir/literal.h"
#include "ir/text_format.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

/// "\"file\":line:col" ("\"file\":line" without a column).
std::string pointStr(const std::string &file, int line, int col) {
  std::string quoted = attrStr(Attribute(file));
  return col > 0 ? fmt::format("{}:{}:{}", quoted, line, col) : fmt::format("{}:{}", quoted, line);
}

/// " loc(...)": with Locations::User, the model's line that called the node's module and the
/// module's scope, loc("model.cpp":12:5 in "decoder.layers.1.self_attn"); with Full, the line
/// inside the module too, loc("nn.cpp":26:16 in "..." at "model.cpp":12:5).
std::string locStr(const Location &loc, Locations detail) {
  if (detail == Locations::None || !loc.known() || loc.in_ir_text)
    return "";
  bool called = !loc.caller_file.empty();
  if (detail == Locations::User && called)
    return fmt::format(" loc({} in {})", pointStr(loc.caller_file, loc.caller_line, loc.caller_col),
                       attrStr(Attribute(loc.scope)));
  std::string out = " loc(" + pointStr(loc.file, loc.line, loc.col);
  if (!loc.scope.empty())
    out += " in " + attrStr(Attribute(loc.scope));
  if (called)
    out += " at " + pointStr(loc.caller_file, loc.caller_line, loc.caller_col);
  return out + ")";
}

/// Whether a node's attribute prints elided: the value list of a large constant.
bool elides(const Node &n, const std::string &attr, const Attribute &value,
            const PrintOptions &opts) {
  const auto *values = std::get_if<FloatList>(&value);
  return opts.elide_constants_larger_than > 0 && n.is(op::Constant) && attr == "value" && values &&
         static_cast<int64_t>(values->size()) > opts.elide_constants_larger_than;
}

} // namespace

std::optional<Locations> locationsNamed(std::string_view name) {
  if (name == "none")
    return Locations::None;
  if (name == "user")
    return Locations::User;
  if (name == "full")
    return Locations::Full;
  return std::nullopt;
}

std::string elidedConstant(const TensorType &type, const FloatList &values) {
  uint64_t hash = 14695981039346656037ull; // FNV-1a, 64 bits
  for (std::byte b : Literal(type, values).toBytes())
    hash = (hash ^ static_cast<uint8_t>(b)) * 1099511628211ull;
  return fmt::format("elided<{}, fnv1a:{:016x}>", type.str(), hash);
}

std::unordered_map<const Value *, std::string> valueNames(const Graph &g) {
  std::unordered_map<const Value *, std::string> names;
  // Node numbers skip the names of inputs ("%1" may be an input), so the text parses back.
  std::unordered_set<std::string> input_names;
  for (const auto &in : g.inputs()) {
    names[in.value.get()] = "%" + in.name;
    input_names.insert(in.name);
  }
  int next = 0;
  for (const auto &n : g.nodes()) {
    while (input_names.count(std::to_string(next)))
      ++next;
    std::string id = fmt::format("%{}", next++);
    if (n->results.size() == 1)
      names[n->result()] = id;
    else
      for (size_t i = 0; i < n->results.size(); ++i)
        names[n->results[i].get()] = fmt::format("{}#{}", id, i);
  }
  return names;
}

std::string printGraph(const Graph &g, const PrintOptions &opts) {
  std::unordered_map<const Value *, std::string> names = valueNames(g);
  std::string out = fmt::format("kiln.format {}\ngraph @{} {{\n", kTextFormat, g.name());
  for (const auto &in : g.inputs()) {
    std::string role =
        in.role == InputRole::None ? "" : " role " + std::string(inputRoleName(in.role));
    out += fmt::format("  input {} %{}: {}{}{}\n", inputKindName(in.kind), in.name,
                       in.value->type.str(), role, locStr(in.loc, opts.locations));
  }
  for (const auto &n : g.nodes()) {
    if (n->results.size() == 1) {
      out += "  " + names.at(n->result());
    } else {
      const std::string &first = names.at(n->result(0));
      out += fmt::format("  {}:{}", first.substr(0, first.rfind('#')), n->results.size());
    }
    out += fmt::format(" = {}(", n->name());
    for (size_t i = 0; i < n->operands.size(); ++i)
      out += (i ? ", " : "") + names.at(n->operands[i]);
    out += ")";
    std::string attrs;
    for (const auto &[name, value] : n->attrs) {
      const AttrSpec *spec = n->op->attrSpec(name);
      if (spec && spec->default_value && *spec->default_value == value)
        continue;
      std::string text = elides(*n, name, value, opts)
                             ? elidedConstant(n->result()->type, std::get<FloatList>(value))
                             : attrStr(value);
      attrs += fmt::format("{}{} = {}", attrs.empty() ? "" : ", ", name, text);
    }
    if (!attrs.empty())
      out += " {" + attrs + "}";
    out += " : ";
    for (size_t i = 0; i < n->results.size(); ++i)
      out += (i ? ", " : "") + n->results[i]->type.str();
    if (n->group >= 0)
      out += fmt::format(" group({})", n->group);
    out += locStr(n->loc, opts.locations);
    out += "\n";
  }
  for (const auto &o : g.outputs()) {
    out += fmt::format("  output {} = {}", attrStr(Attribute(o.name)), names.at(o.value));
    if (!o.updates.empty())
      out += " updates %" + o.updates;
    out += "\n";
  }
  return out + "}\n";
}

} // namespace kiln
