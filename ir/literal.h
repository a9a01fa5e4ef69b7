#pragma once
// A host tensor value: the constants of the IR and the values of the reference interpreter.
//
// Elements are held as doubles whatever the dtype: the reference interpreter is clear rather
// than fast, and rounds each result to its dtype (f32, bf16, integers, bool) after every op.
// Integers are exact up to 2^53, far beyond token ids and indices.

#include "ir/types.h"

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace kiln {

/// The largest magnitude up to which a double holds every integer: 2^53.
constexpr int64_t kMaxExactInteger = int64_t{1} << 53;

/// A dense, row-major host tensor.
struct Literal {
  TensorType type;
  std::vector<double> data;

  Literal() = default;
  Literal(TensorType t);
  Literal(TensorType t, std::vector<double> values);

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  const Shape &shape() const { return type.shape; }
  /// A scalar literal.
  static Literal scalar(double v, DType dtype = DType::f32);
  /// Rounds every element to what the dtype can hold (f32 and bf16 rounding, integer
  /// truncation toward zero, bool to 0 or 1).
  void roundToDType();
  /// The bytes of the elements in the dtype's little-endian storage format.
  std::vector<std::byte> toBytes() const;
  /// Reads elements from little-endian storage of the type's dtype; the span must hold exactly
  /// numElements * dtypeSize bytes. An i64 beyond kMaxExactInteger is rounded (see
  /// firstInexactInteger).
  static Literal fromBytes(TensorType t, std::span<const std::byte> bytes);
};

/// The index of the first element of i64 storage that a double cannot hold exactly (beyond
/// kMaxExactInteger), or nullopt; always nullopt for other dtypes.
std::optional<int64_t> firstInexactInteger(DType dtype, std::span<const std::byte> bytes);

/// Rounds a double to the nearest bf16 value (round to nearest even), returned as a double.
double roundToBF16(double v);
/// Rounds a double to what a dtype can hold.
double roundTo(double v, DType dtype);

} // namespace kiln
