#pragma once
// Element types and static tensor types of the graph IR.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Element type of a tensor.
enum class DType { f32, f64, bf16, i32, i64, boolean };

/// Dimensions of a static shape; a scalar has none.
using Shape = std::vector<int64_t>;

/// The spelling of a dtype in text IR and diagnostics ("f32", "bool", ...).
std::string_view dtypeName(DType t);
/// Parses a dtype spelling; nullopt when the name is unknown.
std::optional<DType> parseDType(std::string_view name);
/// Size in bytes of one element when stored (bool takes one byte).
int64_t dtypeSize(DType t);
/// True for f32, f64 and bf16.
bool isFloat(DType t);
/// True for i32 and i64.
bool isInteger(DType t);

/// The most elements a tensor may have: 2^48, far from overflowing int64 (byte sizes, strides,
/// sums of sizes) and far beyond any tensor that fits in memory.
constexpr int64_t kMaxElements = int64_t{1} << 48;

/// Number of elements of a shape (1 for a scalar); the shape must be valid (validShape).
int64_t numElements(const Shape &shape);
/// Whether every dimension is non-negative and the product of the dimensions, zeros counted as
/// ones, is at most kMaxElements; computed without overflow whatever the dimensions.
bool validShape(const Shape &shape);
/// Prints a shape as "[2,3]".
std::string shapeStr(const Shape &shape);
/// Row-major strides of a shape, in elements.
std::vector<int64_t> stridesOf(const Shape &shape);

/// A static tensor type: element type and shape.
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numElements() const { return kiln::numElements(shape); }
  bool operator==(const TensorType &) const = default;
  /// Prints the type as in text IR: "f32[2,3]", a scalar as "f32[]".
  std::string str() const;
};

/// What a graph input holds.
enum class InputKind {
  Data,      ///< fed each call (tokens, masks, the step number)
  Parameter, ///< model weights
  State,     ///< carried from call to call (optimizer moments); updated values are outputs
};

/// The spelling of an input kind in text IR ("data", "param", "state").
std::string_view inputKindName(InputKind k);

/// What a data input means to the drivers that feed it, so they bind it by meaning rather than
/// by name. A short closed list; most inputs have none.
enum class InputRole {
  None,   ///< bound by name
  Source, ///< source token ids [batch, length]
  Target, ///< target token ids [batch, length]
  Step,   ///< the training step number, i64[], from 1
  Seed,   ///< the seed of the random ops: a Philox key, i32[2] (ir/philox.h)
};

/// The spelling of a role in text IR ("source", "target", "step", "seed"; "" for none).
std::string_view inputRoleName(InputRole r);
/// Parses a role spelling; nullopt when unknown.
std::optional<InputRole> parseInputRole(std::string_view name);

/// Resolves a possibly negative axis against a rank; nullopt when out of range.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);

/// Numpy broadcasting of two shapes; nullopt when they are incompatible.
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b);

} // namespace kiln
