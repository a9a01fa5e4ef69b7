#include "ir/ops/ops.h"

#include <algorithm>
#include <cmath>

namespace kiln::ops {

std::vector<int64_t> broadcastIndex(const Shape &from, const Shape &to) {
  int64_t n = numElements(to);
  std::vector<int64_t> index(n);
  size_t offset = to.size() - from.size();
  auto from_strides = stridesOf(from);
  // Walk the output multi-index like an odometer, tracking the source offset.
  std::vector<int64_t> idx(to.size(), 0);
  int64_t src = 0;
  for (int64_t i = 0; i < n; ++i) {
    index[i] = src;
    for (int64_t d = static_cast<int64_t>(to.size()) - 1; d >= 0; --d) {
      int64_t fd = d - static_cast<int64_t>(offset);
      bool moves = fd >= 0 && from[fd] != 1;
      if (++idx[d] < to[d]) {
        if (moves)
          src += from_strides[fd];
        break;
      }
      if (moves)
        src -= from_strides[fd] * (to[d] - 1);
      idx[d] = 0;
    }
  }
  return index;
}

std::vector<int64_t> unflatten(int64_t flat, const Shape &shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return idx;
}

void requireFloat(const InferContext &ctx, int operand) {
  const TensorType &t = ctx.operands[operand];
  if (!isFloat(t.dtype))
    ctx.error("operand {} must be a floating-point tensor, found {}", operand, t.str());
}

void requireKey(const InferContext &ctx, int operand, std::string_view what) {
  const TensorType &t = ctx.operands[operand];
  if (t != philoxKeyType())
    ctx.error("{} must be a Philox key, {}, found {}", what, philoxKeyType().str(), t.str());
}

PhiloxKey keyOf(const Literal &key) {
  auto word = [&](int i) { return static_cast<uint32_t>(static_cast<int32_t>(key.data[i])); };
  return {word(0), word(1)};
}

std::vector<int64_t> normalizeAxes(const InferContext &ctx, const IntList &axes, int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    int64_t n = ctx.axis(a, rank);
    if (std::find(out.begin(), out.end(), n) != out.end())
      ctx.error("axis {} appears twice", a);
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape reducedShape(const Shape &shape, const std::vector<int64_t> &axes, bool keepdims) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!reduced)
      out.push_back(shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

Literal reduce(const Literal &in, const std::vector<int64_t> &axes, bool keepdims, double init,
               const std::function<double(double, double)> &combine, DType out_dtype) {
  Shape kept = reducedShape(in.shape(), axes, true);
  Literal out(TensorType{out_dtype, reducedShape(in.shape(), axes, keepdims)});
  std::fill(out.data.begin(), out.data.end(), init);
  std::vector<int64_t> dst = broadcastIndex(kept, in.shape());
  for (int64_t i = 0; i < in.size(); ++i)
    out.data[dst[i]] = combine(out.data[dst[i]], in.data[i]);
  return out;
}

void softmaxRows(std::vector<double> &x, int64_t n) {
  if (n == 0)
    return;
  for (size_t r = 0; r < x.size() / n; ++r) {
    double *row = x.data() + r * n;
    double m = *std::max_element(row, row + n);
    if (std::isinf(m) && m < 0) {
      // Every entry is masked: PyTorch yields NaN here; kiln keeps the row finite and uniform
      // would hide the problem, so follow PyTorch.
      std::fill(row, row + n, std::nan(""));
      continue;
    }
    double s = 0;
    for (int64_t j = 0; j < n; ++j)
      s += row[j] = std::exp(row[j] - m);
    for (int64_t j = 0; j < n; ++j)
      row[j] /= s;
  }
}

} // namespace kiln::ops

namespace kiln::ops {

Value *Emit::add(Value *x, Value *y) const { return b.create(op::Add, {x, y}); }
Value *Emit::sub(Value *x, Value *y) const { return b.create(op::Sub, {x, y}); }
Value *Emit::mul(Value *x, Value *y) const { return b.create(op::Mul, {x, y}); }
Value *Emit::div(Value *x, Value *y) const { return b.create(op::Div, {x, y}); }
Value *Emit::neg(Value *x) const { return b.create(op::Neg, {x}); }
Value *Emit::scalar(Value *like, double v) const { return b.splat(v, like->type.dtype); }
Value *Emit::where(Value *cond, Value *x) const {
  return b.create(op::Select, {cond, x, scalar(x, 0.0)});
}
Value *Emit::cast(Value *x, DType dtype) const {
  return b.create(op::Cast, {x}, {{"dtype", dtype}});
}
Value *Emit::reshape(Value *x, const Shape &shape) const {
  return x->type.shape == shape
             ? x
             : b.create(op::Reshape, {x}, {{"shape", IntList(shape.begin(), shape.end())}});
}
Value *Emit::broadcastTo(Value *x, const Shape &shape) const {
  return x->type.shape == shape
             ? x
             : b.create(op::BroadcastTo, {x}, {{"shape", IntList(shape.begin(), shape.end())}});
}
Value *Emit::zeros(const TensorType &t) const { return b.splat(0.0, t.dtype, t.shape); }

Value *Emit::unbroadcast(Value *g, const Shape &shape) const {
  const Shape &from = g->type.shape;
  if (from == shape)
    return g;
  size_t offset = from.size() - shape.size();
  IntList axes;
  for (size_t d = 0; d < from.size(); ++d)
    if (d < offset || (shape[d - offset] == 1 && from[d] != 1))
      axes.push_back(static_cast<int64_t>(d));
  Value *summed =
      axes.empty() ? g : b.create(op::ReduceSum, {g}, {{"axes", axes}, {"keepdims", true}});
  return reshape(summed, shape);
}

} // namespace kiln::ops
