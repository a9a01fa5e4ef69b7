#include "runtime/host_buffer.h"

#include "ir/diagnostics.h"
#include "ir/literal.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <new>

namespace kiln {

namespace {

std::byte *allocate(size_t bytes) {
  // A zero-sized tensor still gets a valid, aligned pointer.
  size_t rounded =
      (bytes + HostBuffer::kAlignment - 1) / HostBuffer::kAlignment * HostBuffer::kAlignment;
  auto *p = static_cast<std::byte *>(::operator new(rounded ? rounded : HostBuffer::kAlignment,
                                                    std::align_val_t(HostBuffer::kAlignment)));
  std::memset(p, 0, rounded ? rounded : HostBuffer::kAlignment);
  return p;
}

template <typename T> T load(const std::byte *p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T> void store(std::byte *p, T v) { std::memcpy(p, &v, sizeof v); }

} // namespace

void HostBuffer::AlignedFree::operator()(std::byte *p) const {
  ::operator delete(p, std::align_val_t(kAlignment));
}

HostBuffer::HostBuffer(TensorType type)
    : type_(std::move(type)),
      data_(allocate(static_cast<size_t>(type_.numElements() * dtypeSize(type_.dtype)))) {}

HostBuffer::HostBuffer(TensorType type, std::span<const std::byte> bytes)
    : HostBuffer(std::move(type)) {
  KILN_ASSERT(bytes.size() == byteSize(), "host buffer: byte count differs from the type's size");
  if (!bytes.empty())
    std::memcpy(data_.get(), bytes.data(), bytes.size());
}

HostBuffer::HostBuffer(const HostBuffer &other) : type_(other.type_) {
  if (other.data_) {
    data_.reset(allocate(other.byteSize()));
    std::memcpy(data_.get(), other.data_.get(), other.byteSize());
  }
}

HostBuffer &HostBuffer::operator=(const HostBuffer &other) {
  if (this != &other)
    *this = HostBuffer(other);
  return *this;
}

HostBuffer HostBuffer::scalarInt(int64_t v, DType dtype) {
  HostBuffer b(TensorType{dtype, {}});
  if (isFloat(dtype))
    b.setDouble(0, static_cast<double>(v));
  else
    b.setInt(0, v);
  return b;
}

HostBuffer HostBuffer::scalarFloat(double v, DType dtype) {
  KILN_ASSERT(isFloat(dtype), "scalarFloat needs a floating-point dtype");
  HostBuffer b(TensorType{dtype, {}});
  b.setDouble(0, v);
  return b;
}

void HostBuffer::checkElementType(DType want) const {
  KILN_ASSERT(dtype() == want, "host buffer: element type differs from the dtype");
}

double HostBuffer::getDouble(int64_t i) const {
  KILN_ASSERT(!empty(), "host buffer: element access on an empty buffer");
  KILN_ASSERT(i >= 0 && i < numElements(), "host buffer: element index out of range");
  const std::byte *p = data_.get() + i * dtypeSize(dtype());
  switch (dtype()) {
  case DType::f32:
    return load<float>(p);
  case DType::f64:
    return load<double>(p);
  case DType::bf16:
    return std::bit_cast<float>(static_cast<uint32_t>(load<uint16_t>(p)) << 16);
  case DType::i32:
    return load<int32_t>(p);
  case DType::i64:
    return static_cast<double>(load<int64_t>(p));
  case DType::boolean:
    return load<uint8_t>(p) != 0;
  }
  return 0;
}

int64_t HostBuffer::getInt(int64_t i) const {
  KILN_ASSERT(!empty(), "host buffer: element access on an empty buffer");
  KILN_ASSERT(i >= 0 && i < numElements(), "host buffer: element index out of range");
  const std::byte *p = data_.get() + i * dtypeSize(dtype());
  switch (dtype()) {
  case DType::i32:
    return load<int32_t>(p);
  case DType::i64:
    return load<int64_t>(p);
  case DType::boolean:
    return load<uint8_t>(p) != 0;
  default:
    KILN_ASSERT(false, "getInt on a floating-point buffer");
  }
  return 0;
}

void HostBuffer::setDouble(int64_t i, double v) {
  KILN_ASSERT(!empty(), "host buffer: element access on an empty buffer");
  KILN_ASSERT(i >= 0 && i < numElements(), "host buffer: element index out of range");
  std::byte *p = data_.get() + i * dtypeSize(dtype());
  v = roundTo(v, dtype());
  switch (dtype()) {
  case DType::f32:
    return store(p, static_cast<float>(v));
  case DType::f64:
    return store(p, v);
  case DType::bf16:
    return store(p, static_cast<uint16_t>(std::bit_cast<uint32_t>(static_cast<float>(v)) >> 16));
  case DType::i32:
    return store(p, static_cast<int32_t>(v));
  case DType::i64:
    return store(p, static_cast<int64_t>(v));
  case DType::boolean:
    return store(p, static_cast<uint8_t>(v != 0));
  }
}

void HostBuffer::setInt(int64_t i, int64_t v) {
  KILN_ASSERT(!empty(), "host buffer: element access on an empty buffer");
  KILN_ASSERT(i >= 0 && i < numElements(), "host buffer: element index out of range");
  std::byte *p = data_.get() + i * dtypeSize(dtype());
  switch (dtype()) {
  case DType::i32:
    return store(p, static_cast<int32_t>(v));
  case DType::i64:
    return store(p, v);
  case DType::boolean:
    return store(p, static_cast<uint8_t>(v != 0));
  default:
    KILN_ASSERT(false, "setInt on a floating-point buffer");
  }
}

bool HostBuffer::operator==(const HostBuffer &other) const {
  if (empty() || other.empty())
    return empty() == other.empty();
  return type_ == other.type_ &&
         (byteSize() == 0 || std::memcmp(data(), other.data(), byteSize()) == 0);
}

} // namespace kiln
