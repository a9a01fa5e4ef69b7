#include "frontend/tensor.h"

namespace kiln {

int64_t Tensor::dim(int64_t axis) const {
  auto a = normalizeAxis(axis, rank());
  KILN_ASSERT(a.has_value(), "Tensor::dim: axis out of range");
  return shape()[*a];
}

namespace {

Tensor make(const Tensor &like, OpHandle op, std::vector<Value *> operands, AttrMap attrs,
            const SrcLoc &loc) {
  ModelBuilder &mb = like.builder();
  return Tensor(&mb, mb.create(op, std::move(operands), std::move(attrs), loc));
}

Tensor unary(OpHandle op, const Tensor &x, const SrcLoc &loc, AttrMap attrs = {}) {
  return make(x, op, {x.value()}, std::move(attrs), loc);
}

Tensor binary(OpHandle op, const Tensor &a, const Tensor &b, const SrcLoc &loc) {
  return make(a, op, {a.value(), b.value()}, {}, loc);
}

IntList ints(const Shape &s) { return IntList(s.begin(), s.end()); }

} // namespace

Tensor constant(ModelBuilder &mb, std::vector<double> values, Shape shape, DType dtype,
                SrcLoc loc) {
  return Tensor(
      &mb,
      mb.create(op::Constant, {},
                {{"dtype", dtype}, {"shape", ints(shape)}, {"value", FloatList(std::move(values))}},
                loc));
}

Tensor full(ModelBuilder &mb, double value, Shape shape, DType dtype, SrcLoc loc) {
  return constant(mb, {value}, std::move(shape), dtype, loc);
}

Tensor iota(ModelBuilder &mb, Shape shape, int64_t axis, DType dtype, SrcLoc loc) {
  return Tensor(&mb, mb.create(op::Iota, {},
                               {{"axis", axis}, {"dtype", dtype}, {"shape", ints(shape)}}, loc));
}

Tensor randomUniform(ModelBuilder &mb, Shape shape, SrcLoc loc) {
  int64_t offset = mb.reserveRandom(numElements(shape));
  Tensor seed = mb.seed(loc);
  return Tensor(&mb, mb.create(op::RandomUniform, {seed.value()},
                               {{"offset", offset}, {"shape", ints(shape)}}, loc));
}

Tensor neg(const Tensor &x, SrcLoc loc) { return unary(op::Neg, x, loc); }
Tensor exp(const Tensor &x, SrcLoc loc) { return unary(op::Exp, x, loc); }
Tensor log(const Tensor &x, SrcLoc loc) { return unary(op::Log, x, loc); }
Tensor sqrt(const Tensor &x, SrcLoc loc) { return unary(op::Sqrt, x, loc); }
Tensor rsqrt(const Tensor &x, SrcLoc loc) { return unary(op::Rsqrt, x, loc); }
Tensor tanh(const Tensor &x, SrcLoc loc) { return unary(op::Tanh, x, loc); }
Tensor relu(const Tensor &x, SrcLoc loc) { return unary(op::Relu, x, loc); }
Tensor gelu(const Tensor &x, bool tanh_approximation, SrcLoc loc) {
  return unary(op::Gelu, x, loc,
               {{"approximate", std::string(tanh_approximation ? "tanh" : "none")}});
}
Tensor sigmoid(const Tensor &x, SrcLoc loc) { return unary(op::Sigmoid, x, loc); }
Tensor abs(const Tensor &x, SrcLoc loc) { return unary(op::Abs, x, loc); }
Tensor logicalNot(const Tensor &x, SrcLoc loc) { return unary(op::Not, x, loc); }
Tensor cast(const Tensor &x, DType dtype, SrcLoc loc) {
  return unary(op::Cast, x, loc, {{"dtype", dtype}});
}

Tensor add(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Add, a, b, loc); }
Tensor sub(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Sub, a, b, loc); }
Tensor mul(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Mul, a, b, loc); }
Tensor div(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Div, a, b, loc); }
Tensor pow(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Pow, a, b, loc); }
Tensor maximum(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Max, a, b, loc); }
Tensor minimum(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Min, a, b, loc); }
Tensor eq(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Eq, a, b, loc); }
Tensor ne(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Ne, a, b, loc); }
Tensor lt(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Lt, a, b, loc); }
Tensor le(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Le, a, b, loc); }
Tensor gt(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Gt, a, b, loc); }
Tensor ge(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Ge, a, b, loc); }
Tensor logicalAnd(const Tensor &a, const Tensor &b, SrcLoc loc) {
  return binary(op::And, a, b, loc);
}
Tensor logicalOr(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary(op::Or, a, b, loc); }

Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, SrcLoc loc) {
  return make(cond, op::Select, {cond.value(), a.value(), b.value()}, {}, loc);
}

Tensor scalarLike(const Tensor &x, double value, SrcLoc loc) {
  return full(x.builder(), value, {}, x.dtype(), loc);
}

Tensor operator+(Located a, const Tensor &b) { return add(a.tensor, b, a.loc); }
Tensor operator-(Located a, const Tensor &b) { return sub(a.tensor, b, a.loc); }
Tensor operator*(Located a, const Tensor &b) { return mul(a.tensor, b, a.loc); }
Tensor operator/(Located a, const Tensor &b) { return div(a.tensor, b, a.loc); }
Tensor operator+(Located a, double b) {
  return add(a.tensor, scalarLike(a.tensor, b, a.loc), a.loc);
}
Tensor operator-(Located a, double b) {
  return sub(a.tensor, scalarLike(a.tensor, b, a.loc), a.loc);
}
Tensor operator*(Located a, double b) {
  return mul(a.tensor, scalarLike(a.tensor, b, a.loc), a.loc);
}
Tensor operator/(Located a, double b) {
  return div(a.tensor, scalarLike(a.tensor, b, a.loc), a.loc);
}
Tensor operator-(Located a) { return neg(a.tensor, a.loc); }

Tensor reduceSum(const Tensor &x, IntList axes, bool keepdims, SrcLoc loc) {
  return unary(op::ReduceSum, x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
Tensor reduceMax(const Tensor &x, IntList axes, bool keepdims, SrcLoc loc) {
  return unary(op::ReduceMax, x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
Tensor reduceMean(const Tensor &x, IntList axes, bool keepdims, SrcLoc loc) {
  return unary(op::ReduceMean, x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}

Tensor reshape(const Tensor &x, Shape shape, SrcLoc loc) {
  return unary(op::Reshape, x, loc, {{"shape", ints(shape)}});
}
Tensor transpose(const Tensor &x, IntList perm, SrcLoc loc) {
  return unary(op::Transpose, x, loc, {{"perm", std::move(perm)}});
}
Tensor broadcastTo(const Tensor &x, Shape shape, SrcLoc loc) {
  return unary(op::BroadcastTo, x, loc, {{"shape", ints(shape)}});
}
Tensor slice(const Tensor &x, IntList start, IntList limit, IntList stride, SrcLoc loc) {
  return unary(
      op::Slice, x, loc,
      {{"limit", std::move(limit)}, {"start", std::move(start)}, {"stride", std::move(stride)}});
}
Tensor concat(const std::vector<Tensor> &xs, int64_t axis, SrcLoc loc) {
  KILN_ASSERT(!xs.empty(), "concat of nothing");
  std::vector<Value *> values;
  for (const Tensor &t : xs)
    values.push_back(t.value());
  return make(xs[0], op::Concat, std::move(values), {{"axis", axis}}, loc);
}

Tensor gather(const Tensor &data, const Tensor &indices, int64_t axis, int64_t batch_dims,
              SrcLoc loc) {
  return make(data, op::Gather, {data.value(), indices.value()},
              {{"axis", axis}, {"batch_dims", batch_dims}}, loc);
}
Tensor scatterAdd(const Tensor &base, const Tensor &indices, const Tensor &updates, int64_t axis,
                  int64_t batch_dims, SrcLoc loc) {
  return make(base, op::ScatterAdd, {base.value(), indices.value(), updates.value()},
              {{"axis", axis}, {"batch_dims", batch_dims}}, loc);
}
Tensor dynamicSlice(const Tensor &x, const std::vector<Tensor> &start, Shape sizes, SrcLoc loc) {
  std::vector<Value *> operands = {x.value()};
  for (const Tensor &s : start)
    operands.push_back(s.value());
  return make(x, op::DynamicSlice, std::move(operands), {{"sizes", ints(sizes)}}, loc);
}
Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update, const std::vector<Tensor> &start,
                          SrcLoc loc) {
  std::vector<Value *> operands = {x.value(), update.value()};
  for (const Tensor &s : start)
    operands.push_back(s.value());
  return make(x, op::DynamicUpdateSlice, std::move(operands), {}, loc);
}
Tensor matmul(const Tensor &a, const Tensor &b, bool transpose_a, bool transpose_b, SrcLoc loc) {
  return make(a, op::Matmul, {a.value(), b.value()},
              {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}}, loc);
}

} // namespace kiln
