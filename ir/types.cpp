#include "ir/types.h"

#include <algorithm>
#include <fmt/format.h>

namespace kiln {

std::string_view dtypeName(DType t) {
  switch (t) {
  case DType::f32:
    return "f32";
  case DType::f64:
    return "f64";
  case DType::bf16:
    return "bf16";
  case DType::i32:
    return "i32";
  case DType::i64:
    return "i64";
  case DType::boolean:
    return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view name) {
  for (DType t : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::boolean})
    if (dtypeName(t) == name)
      return t;
  return std::nullopt;
}

int64_t dtypeSize(DType t) {
  switch (t) {
  case DType::f32:
    return 4;
  case DType::f64:
    return 8;
  case DType::bf16:
    return 2;
  case DType::i32:
    return 4;
  case DType::i64:
    return 8;
  case DType::boolean:
    return 1;
  }
  return 0;
}

bool isFloat(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16; }
bool isInteger(DType t) { return t == DType::i32 || t == DType::i64; }

int64_t numElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

bool validShape(const Shape &shape) {
  // A zero dimension does not lift the bound from the others: strides multiply them all.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || std::max<int64_t>(d, 1) > kMaxElements / n)
      return false;
    n *= std::max<int64_t>(d, 1);
  }
  return true;
}

std::string shapeStr(const Shape &shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

std::vector<int64_t> stridesOf(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

std::string TensorType::str() const {
  return fmt::format("{}{}", dtypeName(dtype), shapeStr(shape));
}

std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::string_view inputKindName(InputKind k) {
  switch (k) {
  case InputKind::Data:
    return "data";
  case InputKind::Parameter:
    return "param";
  case InputKind::State:
    return "state";
  }
  return "?";
}

std::string_view inputRoleName(InputRole r) {
  switch (r) {
  case InputRole::None:
    return "";
  case InputRole::Source:
    return "source";
  case InputRole::Target:
    return "target";
  case InputRole::Step:
    return "step";
  case InputRole::Seed:
    return "seed";
  }
  return "?";
}

std::optional<InputRole> parseInputRole(std::string_view name) {
  for (InputRole r : {InputRole::Source, InputRole::Target, InputRole::Step, InputRole::Seed})
    if (inputRoleName(r) == name)
      return r;
  return std::nullopt;
}

} // namespace kiln
