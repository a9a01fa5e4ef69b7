#pragma once
// Shared pieces of the op families: each family file appends its OpDefs to the table, and the
// helpers here keep inference and reference kernels short.

#include "ir/builder.h"
#include "ir/graph.h"
#include "ir/op.h"
#include "ir/philox.h"

#include <functional>

namespace kiln {

void addCreationOps(std::vector<OpDef> &ops);
void addElementwiseOps(std::vector<OpDef> &ops);
void addReductionOps(std::vector<OpDef> &ops);
void addShapeOps(std::vector<OpDef> &ops);
void addIndexingOps(std::vector<OpDef> &ops);
void addLinalgOps(std::vector<OpDef> &ops);
void addNNOps(std::vector<OpDef> &ops);
void addAttentionOps(std::vector<OpDef> &ops);
void addCollectiveOps(std::vector<OpDef> &ops);

namespace ops {

/// Result type of a node, for kernels.
inline const TensorType &resultType(const Node &n, int i = 0) { return n.result(i)->type; }

/// For each element of `to`, the flat index of the element of `from` that numpy broadcasting
/// reads there. `from` must broadcast to `to`.
std::vector<int64_t> broadcastIndex(const Shape &from, const Shape &to);

/// Multi-index of a flat row-major index.
std::vector<int64_t> unflatten(int64_t flat, const Shape &shape);

/// Requires a floating-point operand.
void requireFloat(const InferContext &ctx, int operand);

/// Requires a Philox key operand, i32[2] (`what` names it in the error: "the seed").
void requireKey(const InferContext &ctx, int operand, std::string_view what);

/// The Philox key an i32[2] literal holds (each word's 32 bits as written).
PhiloxKey keyOf(const Literal &key);

/// Normalizes a list of axes (negative allowed), reporting duplicates and out-of-range axes.
std::vector<int64_t> normalizeAxes(const InferContext &ctx, const IntList &axes, int64_t rank);

/// Reduces `in` over the given (normalized, sorted) axes with a binary combiner.
Literal reduce(const Literal &in, const std::vector<int64_t> &axes, bool keepdims, double init,
               const std::function<double(double, double)> &combine, DType out_dtype);

/// Shape after reducing the given axes.
Shape reducedShape(const Shape &shape, const std::vector<int64_t> &axes, bool keepdims);

/// Softmax along the last axis of a row-major buffer of rows of length n, in place.
void softmaxRows(std::vector<double> &x, int64_t n);

} // namespace ops
} // namespace kiln

namespace kiln::ops {

/// Short spellings for emitting nodes inside VJP rules.
struct Emit {
  Builder &b;
  Value *add(Value *x, Value *y) const;
  Value *sub(Value *x, Value *y) const;
  Value *mul(Value *x, Value *y) const;
  Value *div(Value *x, Value *y) const;
  Value *neg(Value *x) const;
  /// A scalar constant of x's dtype.
  Value *scalar(Value *like, double v) const;
  /// select(cond, x, 0).
  Value *where(Value *cond, Value *x) const;
  Value *cast(Value *x, DType dtype) const;
  Value *reshape(Value *x, const Shape &shape) const;
  Value *broadcastTo(Value *x, const Shape &shape) const;
  /// Zeros of a type.
  Value *zeros(const TensorType &t) const;
  /// Sums a gradient over the axes broadcasting added or stretched, back to `shape`.
  Value *unbroadcast(Value *g, const Shape &shape) const;
};

} // namespace kiln::ops
