#include "ir/attributes.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace kiln {

AttrKind attrKind(const Attribute &a) { return static_cast<AttrKind>(a.index()); }

std::string_view attrKindName(AttrKind k) {
  switch (k) {
  case AttrKind::Bool:
    return "boolean";
  case AttrKind::Int:
    return "integer";
  case AttrKind::Float:
    return "float";
  case AttrKind::String:
    return "string";
  case AttrKind::Ints:
    return "integer list";
  case AttrKind::Floats:
    return "float list";
  case AttrKind::DType:
    return "dtype";
  }
  return "?";
}

namespace {

/// Whether a double holds an integer exactly: |v| <= 2^53.
bool exactInDouble(int64_t v) {
  constexpr int64_t kExact = int64_t{1} << 53;
  return v >= -kExact && v <= kExact;
}

} // namespace

std::optional<Attribute> coerceAttr(const Attribute &a, AttrKind kind) {
  AttrKind have = attrKind(a);
  if (have == kind)
    return a;
  if (have == AttrKind::Int && kind == AttrKind::Float && exactInDouble(std::get<int64_t>(a)))
    return Attribute(static_cast<double>(std::get<int64_t>(a)));
  if (have == AttrKind::Ints && kind == AttrKind::Floats) {
    const auto &ints = std::get<IntList>(a);
    if (!std::all_of(ints.begin(), ints.end(), exactInDouble))
      return std::nullopt;
    return Attribute(FloatList(ints.begin(), ints.end()));
  }
  if (have == AttrKind::Floats && kind == AttrKind::Ints && std::get<FloatList>(a).empty())
    return Attribute(IntList{});
  return std::nullopt;
}

std::string floatStr(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

std::string attrStr(const Attribute &a) {
  switch (attrKind(a)) {
  case AttrKind::Bool:
    return std::get<bool>(a) ? "true" : "false";
  case AttrKind::Int:
    return std::to_string(std::get<int64_t>(a));
  case AttrKind::Float:
    return floatStr(std::get<double>(a));
  case AttrKind::String: {
    // Control characters are escaped, so that a string stays on its line and reads back.
    std::string out = "\"";
    for (char c : std::get<std::string>(a)) {
      auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\')
        out += {'\\', c};
      else if (c == '\n')
        out += "\\n";
      else if (c == '\t')
        out += "\\t";
      else if (c == '\r')
        out += "\\r";
      else if (u < 0x20 || u == 0x7f)
        out += fmt::format("\\x{:02x}", u);
      else
        out += c;
    }
    return out + "\"";
  }
  case AttrKind::Ints:
    return fmt::format("[{}]", fmt::join(std::get<IntList>(a), ", "));
  case AttrKind::Floats: {
    std::string out = "[";
    const auto &fs = std::get<FloatList>(a);
    for (size_t i = 0; i < fs.size(); ++i)
      out += (i ? ", " : "") + floatStr(fs[i]);
    return out + "]";
  }
  case AttrKind::DType:
    return std::string(dtypeName(std::get<DType>(a)));
  }
  return "?";
}

} // namespace kiln
