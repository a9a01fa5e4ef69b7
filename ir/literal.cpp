#include "ir/literal.h"

#include "ir/diagnostics.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace kiln {

Literal::Literal(TensorType t) : type(std::move(t)), data(type.numElements(), 0.0) {}

Literal::Literal(TensorType t, std::vector<double> values)
    : type(std::move(t)), data(std::move(values)) {
  KILN_ASSERT(static_cast<int64_t>(data.size()) == type.numElements(), "literal size mismatch");
}

Literal Literal::scalar(double v, DType dtype) {
  return Literal(TensorType{dtype, {}}, {roundTo(v, dtype)});
}

double roundToBF16(double v) {
  float f = static_cast<float>(v);
  if (std::isnan(f))
    return v;
  uint32_t bits = std::bit_cast<uint32_t>(f);
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  bits = (bits + rounding) & 0xffff0000u;
  return std::bit_cast<float>(bits);
}

double roundTo(double v, DType dtype) {
  switch (dtype) {
  case DType::f32:
    return static_cast<float>(v);
  case DType::f64:
    return v;
  case DType::bf16:
    return roundToBF16(v);
  // Integers saturate and NaN becomes 0 (an integer division by zero, say): no undefined
  // float-to-int conversion.
  case DType::i32:
    return std::isnan(v) ? 0.0 : std::trunc(std::clamp(v, -2147483648.0, 2147483647.0));
  case DType::i64:
    return std::isnan(v) ? 0.0
                         : std::trunc(std::clamp(v, -9223372036854775808.0, 9223372036854774784.0));
  case DType::boolean:
    return v != 0.0 ? 1.0 : 0.0;
  }
  return v;
}

void Literal::roundToDType() {
  if (type.dtype == DType::f64)
    return;
  for (double &v : data)
    v = roundTo(v, type.dtype);
}

namespace {
template <typename T> void put(std::byte *dst, T v) { std::memcpy(dst, &v, sizeof v); }
template <typename T> T get(const std::byte *src) {
  T v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
} // namespace

std::vector<std::byte> Literal::toBytes() const {
  int64_t w = dtypeSize(type.dtype);
  std::vector<std::byte> out(data.size() * w);
  for (size_t i = 0; i < data.size(); ++i) {
    std::byte *p = out.data() + i * w;
    double v = data[i];
    switch (type.dtype) {
    case DType::f32:
      put(p, static_cast<float>(v));
      break;
    case DType::f64:
      put(p, v);
      break;
    case DType::bf16:
      put(p,
          static_cast<uint16_t>(std::bit_cast<uint32_t>(static_cast<float>(roundToBF16(v))) >> 16));
      break;
    // roundTo saturates first: converting a double beyond the integer's range is undefined.
    case DType::i32:
      put(p, static_cast<int32_t>(roundTo(v, DType::i32)));
      break;
    case DType::i64:
      put(p, static_cast<int64_t>(roundTo(v, DType::i64)));
      break;
    case DType::boolean:
      put(p, static_cast<uint8_t>(v != 0.0));
      break;
    }
  }
  return out;
}

std::optional<int64_t> firstInexactInteger(DType dtype, std::span<const std::byte> bytes) {
  if (dtype != DType::i64)
    return std::nullopt;
  for (size_t i = 0; i < bytes.size() / sizeof(int64_t); ++i)
    if (int64_t v = get<int64_t>(bytes.data() + i * sizeof(int64_t));
        v > kMaxExactInteger || v < -kMaxExactInteger)
      return static_cast<int64_t>(i);
  return std::nullopt;
}

Literal Literal::fromBytes(TensorType t, std::span<const std::byte> bytes) {
  int64_t w = dtypeSize(t.dtype);
  KILN_ASSERT(static_cast<int64_t>(bytes.size()) == t.numElements() * w, "byte size mismatch");
  Literal lit(std::move(t));
  for (size_t i = 0; i < lit.data.size(); ++i) {
    const std::byte *p = bytes.data() + i * w;
    switch (lit.type.dtype) {
    case DType::f32:
      lit.data[i] = get<float>(p);
      break;
    case DType::f64:
      lit.data[i] = get<double>(p);
      break;
    case DType::bf16:
      lit.data[i] = std::bit_cast<float>(static_cast<uint32_t>(get<uint16_t>(p)) << 16);
      break;
    case DType::i32:
      lit.data[i] = get<int32_t>(p);
      break;
    case DType::i64:
      lit.data[i] = static_cast<double>(get<int64_t>(p));
      break;
    case DType::boolean:
      lit.data[i] = get<uint8_t>(p) != 0;
      break;
    }
  }
  return lit;
}

} // namespace kiln
