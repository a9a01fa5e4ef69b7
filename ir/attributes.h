#pragma once
// Node attributes: a small closed set of kinds, kept in a name-ordered map so printing is stable.

#include "ir/types.h"

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kiln {

using IntList = std::vector<int64_t>;
using FloatList = std::vector<double>;

/// One attribute value.
using Attribute = std::variant<bool, int64_t, double, std::string, IntList, FloatList, DType>;

/// The kinds of attribute, in the order of the Attribute variant.
enum class AttrKind { Bool, Int, Float, String, Ints, Floats, DType };

/// Attributes of a node, ordered by name.
using AttrMap = std::map<std::string, Attribute>;

/// The kind of an attribute value.
AttrKind attrKind(const Attribute &a);
/// The name of an attribute kind for diagnostics ("integer list", ...).
std::string_view attrKindName(AttrKind k);
/// Converts a value to a kind when the conversion is lossless (int to float and ints to floats
/// up to magnitude 2^53, an empty list to any list); nullopt otherwise.
std::optional<Attribute> coerceAttr(const Attribute &a, AttrKind kind);
/// Prints an attribute value as in text IR; floats always carry a '.', 'e', "inf" or "nan".
std::string attrStr(const Attribute &a);
/// Prints a double so that parsing it back gives the same bits.
std::string floatStr(double v);

} // namespace kiln
