#include "frontend/tensor.h"

namespace kiln {

int64_t Tensor::dim(int64_t axis) const {
  auto a = normalizeAxis(axis, rank());
  KILN_ASSERT(a.has_value(), "Tensor::dim: axis out of range");
  return shape()[*a];
}

namespace {

Tensor make(const Tensor &like, std::string_view op, std::vector<Value *> operands, AttrMap attrs,
            const SrcLoc &loc) {
  ModelBuilder &mb = like.builder();
  return Tensor(&mb, mb.create(op, std::move(operands), std::move(attrs), loc));
}

Tensor unary(std::string_view op, const Tensor &x, const SrcLoc &loc, AttrMap attrs = {}) {
  return make(x, op, {x.value()}, std::move(attrs), loc);
}

Tensor binary(std::string_view op, const Tensor &a, const Tensor &b, const SrcLoc &loc) {
  return make(a, op, {a.value(), b.value()}, {}, loc);
}

IntList ints(const Shape &s) { return IntList(s.begin(), s.end()); }

} // namespace

Tensor constant(ModelBuilder &mb, std::vector<double> values, Shape shape, DType dtype,
                SrcLoc loc) {
  return Tensor(
      &mb,
      mb.create("constant", {},
                {{"dtype", dtype}, {"shape", ints(shape)}, {"value", FloatList(std::move(values))}},
                loc));
}

Tensor full(ModelBuilder &mb, double value, Shape shape, DType dtype, SrcLoc loc) {
  return constant(mb, {value}, std::move(shape), dtype, loc);
}

Tensor iota(ModelBuilder &mb, Shape shape, int64_t axis, DType dtype, SrcLoc loc) {
  return Tensor(
      &mb, mb.create("iota", {}, {{"axis", axis}, {"dtype", dtype}, {"shape", ints(shape)}}, loc));
}

Tensor randomUniform(ModelBuilder &mb, Shape shape, SrcLoc loc) {
  int64_t offset = mb.reserveRandom(numElements(shape));
  Tensor seed = mb.seed(loc);
  return Tensor(&mb, mb.create("random_uniform", {seed.value()},
                               {{"offset", offset}, {"shape", ints(shape)}}, loc));
}

Tensor neg(const Tensor &x, SrcLoc loc) { return unary("neg", x, loc); }
Tensor exp(const Tensor &x, SrcLoc loc) { return unary("exp", x, loc); }
Tensor log(const Tensor &x, SrcLoc loc) { return unary("log", x, loc); }
Tensor sqrt(const Tensor &x, SrcLoc loc) { return unary("sqrt", x, loc); }
Tensor rsqrt(const Tensor &x, SrcLoc loc) { return unary("rsqrt", x, loc); }
Tensor tanh(const Tensor &x, SrcLoc loc) { return unary("tanh", x, loc); }
Tensor relu(const Tensor &x, SrcLoc loc) { return unary("relu", x, loc); }
Tensor gelu(const Tensor &x, bool tanh_approximation, SrcLoc loc) {
  return unary("gelu", x, loc,
               {{"approximate", std::string(tanh_approximation ? "tanh" : "none")}});
}
Tensor sigmoid(const Tensor &x, SrcLoc loc) { return unary("sigmoid", x, loc); }
Tensor abs(const Tensor &x, SrcLoc loc) { return unary("abs", x, loc); }
Tensor logicalNot(const Tensor &x, SrcLoc loc) { return unary("not", x, loc); }
Tensor cast(const Tensor &x, DType dtype, SrcLoc loc) {
  return unary("cast", x, loc, {{"dtype", dtype}});
}

Tensor add(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("add", a, b, loc); }
Tensor sub(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("sub", a, b, loc); }
Tensor mul(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("mul", a, b, loc); }
Tensor div(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("div", a, b, loc); }
Tensor pow(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("pow", a, b, loc); }
Tensor maximum(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("max", a, b, loc); }
Tensor minimum(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("min", a, b, loc); }
Tensor eq(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("eq", a, b, loc); }
Tensor ne(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("ne", a, b, loc); }
Tensor lt(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("lt", a, b, loc); }
Tensor le(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("le", a, b, loc); }
Tensor gt(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("gt", a, b, loc); }
Tensor ge(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("ge", a, b, loc); }
Tensor logicalAnd(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("and", a, b, loc); }
Tensor logicalOr(const Tensor &a, const Tensor &b, SrcLoc loc) { return binary("or", a, b, loc); }

Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, SrcLoc loc) {
  return make(cond, "select", {cond.value(), a.value(), b.value()}, {}, loc);
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
  return unary("reduce_sum", x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
Tensor reduceMax(const Tensor &x, IntList axes, bool keepdims, SrcLoc loc) {
  return unary("reduce_max", x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
Tensor reduceMean(const Tensor &x, IntList axes, bool keepdims, SrcLoc loc) {
  return unary("reduce_mean", x, loc, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
}

Tensor reshape(const Tensor &x, Shape shape, SrcLoc loc) {
  return unary("reshape", x, loc, {{"shape", ints(shape)}});
}
Tensor transpose(const Tensor &x, IntList perm, SrcLoc loc) {
  return unary("transpose", x, loc, {{"perm", std::move(perm)}});
}
Tensor broadcastTo(const Tensor &x, Shape shape, SrcLoc loc) {
  return unary("broadcast_to", x, loc, {{"shape", ints(shape)}});
}
Tensor slice(const Tensor &x, IntList start, IntList limit, IntList stride, SrcLoc loc) {
  return unary(
      "slice", x, loc,
      {{"limit", std::move(limit)}, {"start", std::move(start)}, {"stride", std::move(stride)}});
}
Tensor concat(const std::vector<Tensor> &xs, int64_t axis, SrcLoc loc) {
  KILN_ASSERT(!xs.empty(), "concat of nothing");
  std::vector<Value *> values;
  for (const Tensor &t : xs)
    values.push_back(t.value());
  return make(xs[0], "concat", std::move(values), {{"axis", axis}}, loc);
}

Tensor gather(const Tensor &data, const Tensor &indices, int64_t axis, int64_t batch_dims,
              SrcLoc loc) {
  return make(data, "gather", {data.value(), indices.value()},
              {{"axis", axis}, {"batch_dims", batch_dims}}, loc);
}
Tensor scatterAdd(const Tensor &base, const Tensor &indices, const Tensor &updates, int64_t axis,
                  int64_t batch_dims, SrcLoc loc) {
  return make(base, "scatter_add", {base.value(), indices.value(), updates.value()},
              {{"axis", axis}, {"batch_dims", batch_dims}}, loc);
}
Tensor matmul(const Tensor &a, const Tensor &b, bool transpose_a, bool transpose_b, SrcLoc loc) {
  return make(a, "matmul", {a.value(), b.value()},
              {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}}, loc);
}

} // namespace kiln
