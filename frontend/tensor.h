#pragma once
// The DSL's tensor handle and one free function per primitive op. Each call records a node in
// the ModelBuilder's graph, located at the caller's source line; a shape or dtype mistake is
// thrown there as an Error, e.g. "model.cpp:42:7: error: matmul: inner dimensions differ".

#include "frontend/model_builder.h"

#include <source_location>
#include <vector>

namespace kiln {

/// A value of the graph being recorded.
class Tensor {
public:
  Tensor() = default;
  Tensor(ModelBuilder *mb, Value *v) : mb_(mb), value_(v) {}

  bool defined() const { return value_ != nullptr; }
  Value *value() const { return value_; }
  ModelBuilder &builder() const { return *mb_; }
  const TensorType &type() const { return value_->type; }
  const Shape &shape() const { return value_->type.shape; }
  DType dtype() const { return value_->type.dtype; }
  int64_t rank() const { return value_->type.rank(); }
  /// The size of an axis; negative axes count from the end.
  int64_t dim(int64_t axis) const;

private:
  ModelBuilder *mb_ = nullptr;
  Value *value_ = nullptr;
};

/// A tensor operand that remembers where the expression using it was written; operators take
/// it so that `a + b` is located at the user's line.
struct Located {
  Located(const Tensor &t, std::source_location l = std::source_location::current())
      : tensor(t), loc(l) {}
  Tensor tensor;
  std::source_location loc;
};

using SrcLoc = std::source_location;

// Creation.
/// A constant with the given elements.
Tensor constant(ModelBuilder &mb, std::vector<double> values, Shape shape, DType dtype = DType::f32,
                SrcLoc loc = SrcLoc::current());
/// A constant filled with one value.
Tensor full(ModelBuilder &mb, double value, Shape shape, DType dtype = DType::f32,
            SrcLoc loc = SrcLoc::current());
/// Each element's index along an axis.
Tensor iota(ModelBuilder &mb, Shape shape, int64_t axis, DType dtype = DType::i64,
            SrcLoc loc = SrcLoc::current());
/// Uniform [0, 1) numbers of the counter-based generator, keyed by the builder's seed input.
Tensor randomUniform(ModelBuilder &mb, Shape shape, SrcLoc loc = SrcLoc::current());

// Unary.
Tensor neg(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor exp(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor log(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor sqrt(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor rsqrt(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor tanh(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor relu(const Tensor &x, SrcLoc loc = SrcLoc::current());
/// GELU, exact (erf) or with the tanh approximation.
Tensor gelu(const Tensor &x, bool tanh_approximation = false, SrcLoc loc = SrcLoc::current());
Tensor sigmoid(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor abs(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor logicalNot(const Tensor &x, SrcLoc loc = SrcLoc::current());
Tensor cast(const Tensor &x, DType dtype, SrcLoc loc = SrcLoc::current());

// Binary, with numpy broadcasting.
Tensor add(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor sub(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor mul(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor div(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor pow(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor maximum(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor minimum(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor eq(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor ne(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor lt(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor le(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor gt(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor ge(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor logicalAnd(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
Tensor logicalOr(const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
/// cond ? a : b, broadcasting all three.
Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, SrcLoc loc = SrcLoc::current());
/// A scalar constant of x's dtype.
Tensor scalarLike(const Tensor &x, double value, SrcLoc loc = SrcLoc::current());

// Operators; scalars become constants of the tensor's dtype.
Tensor operator+(Located a, const Tensor &b);
Tensor operator-(Located a, const Tensor &b);
Tensor operator*(Located a, const Tensor &b);
Tensor operator/(Located a, const Tensor &b);
Tensor operator+(Located a, double b);
Tensor operator-(Located a, double b);
Tensor operator*(Located a, double b);
Tensor operator/(Located a, double b);
Tensor operator-(Located a);

// Reductions.
Tensor reduceSum(const Tensor &x, IntList axes, bool keepdims = false,
                 SrcLoc loc = SrcLoc::current());
Tensor reduceMax(const Tensor &x, IntList axes, bool keepdims = false,
                 SrcLoc loc = SrcLoc::current());
Tensor reduceMean(const Tensor &x, IntList axes, bool keepdims = false,
                  SrcLoc loc = SrcLoc::current());

// Layout.
Tensor reshape(const Tensor &x, Shape shape, SrcLoc loc = SrcLoc::current());
Tensor transpose(const Tensor &x, IntList perm, SrcLoc loc = SrcLoc::current());
Tensor broadcastTo(const Tensor &x, Shape shape, SrcLoc loc = SrcLoc::current());
/// Elements start[d] <= i < limit[d] (stride 1 when `stride` is empty).
Tensor slice(const Tensor &x, IntList start, IntList limit, IntList stride = {},
             SrcLoc loc = SrcLoc::current());
Tensor concat(const std::vector<Tensor> &xs, int64_t axis, SrcLoc loc = SrcLoc::current());

// Indexing and linear algebra.
/// Slices of data along an axis at integer indices (TensorFlow's gather with batch_dims).
Tensor gather(const Tensor &data, const Tensor &indices, int64_t axis = 0, int64_t batch_dims = 0,
              SrcLoc loc = SrcLoc::current());
/// base plus updates added where gather would read.
Tensor scatterAdd(const Tensor &base, const Tensor &indices, const Tensor &updates,
                  int64_t axis = 0, int64_t batch_dims = 0, SrcLoc loc = SrcLoc::current());
/// The box of shape `sizes` at a corner given by one scalar integer tensor an axis, clamped
/// inside x.
Tensor dynamicSlice(const Tensor &x, const std::vector<Tensor> &start, Shape sizes,
                    SrcLoc loc = SrcLoc::current());
/// x with the box of update's shape at a corner given by one scalar integer tensor an axis
/// (clamped inside x) overwritten by update.
Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update, const std::vector<Tensor> &start,
                          SrcLoc loc = SrcLoc::current());
/// Batched matrix product [..., m, k] x [..., k, n].
Tensor matmul(const Tensor &a, const Tensor &b, bool transpose_a = false, bool transpose_b = false,
              SrcLoc loc = SrcLoc::current());

} // namespace kiln
