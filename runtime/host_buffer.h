#pragma once
// The one host tensor type that crosses kiln's APIs: a dtype, a static shape and the elements'
// little-endian bytes in a 64-byte-aligned allocation (so code generators may use aligned
// vector loads). Tools, the trainer, checkpoints, tasks and every backend exchange these.

#include "ir/types.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace kiln {

/// Maps a C++ element type to its dtype (bf16 is held as its raw 16 bits, bool as one byte).
template <typename T> constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::f32; }
template <> constexpr DType dtypeOf<double>() { return DType::f64; }
template <> constexpr DType dtypeOf<int32_t>() { return DType::i32; }
template <> constexpr DType dtypeOf<int64_t>() { return DType::i64; }

/// A dense, row-major host tensor that owns its bytes. Copies are deep; moves are cheap.
class HostBuffer {
public:
  /// Byte alignment of every allocation.
  static constexpr size_t kAlignment = 64;

  /// An empty buffer: no type, no bytes (what a moved-from buffer is too).
  HostBuffer() = default;
  /// A zero-filled tensor of this type.
  explicit HostBuffer(TensorType type);
  /// A tensor of this type holding a copy of `bytes`, which must be exactly its size.
  HostBuffer(TensorType type, std::span<const std::byte> bytes);
  HostBuffer(const HostBuffer &other);
  HostBuffer &operator=(const HostBuffer &other);
  HostBuffer(HostBuffer &&) noexcept = default;
  HostBuffer &operator=(HostBuffer &&) noexcept = default;

  /// A scalar of an integer or floating-point dtype holding `v` (exact for every int64).
  static HostBuffer scalarInt(int64_t v, DType dtype = DType::i64);
  /// A scalar of a floating-point dtype, rounded to it.
  static HostBuffer scalarFloat(double v, DType dtype = DType::f32);

  /// Whether the buffer holds no tensor (default-constructed, moved from, or a runInPlace
  /// result whose value went into an input).
  bool empty() const { return !data_; }
  /// The tensor type.
  const TensorType &type() const { return type_; }
  /// The element type.
  DType dtype() const { return type_.dtype; }
  /// The dimensions.
  const Shape &shape() const { return type_.shape; }
  /// The number of elements.
  int64_t numElements() const { return type_.numElements(); }
  /// Size of the elements in bytes; 0 for an empty buffer.
  size_t byteSize() const {
    return data_ ? static_cast<size_t>(numElements() * dtypeSize(dtype())) : 0;
  }
  /// The first byte (nullptr when empty).
  std::byte *data() { return data_.get(); }
  /// The first byte (nullptr when empty).
  const std::byte *data() const { return data_.get(); }
  /// The bytes of the elements.
  std::span<std::byte> bytes() { return {data_.get(), byteSize()}; }
  /// The bytes of the elements.
  std::span<const std::byte> bytes() const { return {data_.get(), byteSize()}; }

  /// The elements as a typed span; asserts that T matches the dtype.
  template <typename T> std::span<T> as() {
    checkElementType(dtypeOf<T>());
    return {reinterpret_cast<T *>(data_.get()), static_cast<size_t>(numElements())};
  }
  template <typename T> std::span<const T> as() const {
    checkElementType(dtypeOf<T>());
    return {reinterpret_cast<const T *>(data_.get()), static_cast<size_t>(numElements())};
  }

  /// Element i converted to double (exact for floats; integers beyond 2^53 are rounded).
  double getDouble(int64_t i) const;
  /// Element i of an integer or bool tensor, exactly.
  int64_t getInt(int64_t i) const;
  /// Stores v at element i, rounded to the dtype (bf16 to nearest even, integers truncated).
  void setDouble(int64_t i, double v);
  /// Stores an integer at element i exactly (integer and bool dtypes).
  void setInt(int64_t i, int64_t v);
  /// Same type and the same bytes.
  bool operator==(const HostBuffer &other) const;

private:
  struct AlignedFree {
    void operator()(std::byte *p) const;
  };
  void checkElementType(DType want) const;

  TensorType type_;
  std::unique_ptr<std::byte[], AlignedFree> data_;
};

} // namespace kiln
