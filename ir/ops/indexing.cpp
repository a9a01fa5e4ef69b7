// Indexing ops: gather along an axis (embedding lookup, picking target log-probabilities) and
// its adjoint scatter_add. With batch_dims = b the first b axes of data and indices are paired
// (TensorFlow's gather semantics): result shape is data[:axis] + indices[b:] + data[axis+1:].

#include "ir/ops/ops.h"

namespace kiln {
namespace {

/// Checks data and indices types of a gather; returns the gathered shape.
Shape gatherShape(const InferContext &ctx, const TensorType &data, const TensorType &indices) {
  if (!isInteger(indices.dtype))
    ctx.error("indices must be i32 or i64, found {}", indices.str());
  int64_t b = ctx.getInt("batch_dims");
  if (b < 0 || b > indices.rank() || b > data.rank())
    ctx.error("batch_dims {} is out of range for data {} and indices {}", b, data.str(),
              indices.str());
  int64_t axis = ctx.axis(ctx.getInt("axis"), data.rank());
  if (axis < b)
    ctx.error("axis {} must not be a batch axis (batch_dims {})", axis, b);
  for (int64_t d = 0; d < b; ++d)
    if (data.shape[d] != indices.shape[d])
      ctx.error("batch axis {} differs: data {} and indices {}", d, shapeStr(data.shape),
                shapeStr(indices.shape));
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), indices.shape.begin() + b, indices.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  return out;
}

std::vector<TensorType> inferGather(const InferContext &ctx) {
  const TensorType &data = ctx.operands[0];
  return {TensorType{data.dtype, gatherShape(ctx, data, ctx.operands[1])}};
}

std::vector<TensorType> inferScatterAdd(const InferContext &ctx) {
  const TensorType &base = ctx.operands[0], &updates = ctx.operands[2];
  Shape expected = gatherShape(ctx, base, ctx.operands[1]);
  if (updates.dtype != base.dtype || updates.shape != expected)
    ctx.error("updates must be {}, found {}", TensorType{base.dtype, expected}.str(),
              updates.str());
  return {base};
}

/// Calls f(result flat index, data flat index) for every gathered element, checking indices.
template <typename F>
void forEachGathered(const Node &n, const Shape &data_shape, const Literal &indices,
                     const Shape &out_shape, F f) {
  int64_t b = n.getInt("batch_dims");
  int64_t axis = *normalizeAxis(n.getInt("axis"), static_cast<int64_t>(data_shape.size()));
  int64_t index_rank = indices.type.rank() - b;
  auto data_strides = stridesOf(data_shape);
  auto index_strides = stridesOf(indices.shape());
  int64_t bound = data_shape[axis];
  int64_t total = numElements(out_shape);
  for (int64_t i = 0; i < total; ++i) {
    auto idx = ops::unflatten(i, out_shape);
    int64_t index_pos = 0;
    for (int64_t d = 0; d < b; ++d)
      index_pos += idx[d] * index_strides[d];
    for (int64_t d = 0; d < index_rank; ++d)
      index_pos += idx[axis + d] * index_strides[b + d];
    auto k = static_cast<int64_t>(indices.data[index_pos]);
    if (k < 0 || k >= bound)
      throw Error(n.loc, fmt::format("{}: index {} is out of range [0, {}) along axis {}", n.name(),
                                     k, bound, axis));
    int64_t src = k * data_strides[axis];
    for (int64_t d = 0; d < axis; ++d)
      src += idx[d] * data_strides[d];
    for (int64_t d = axis + 1; d < static_cast<int64_t>(data_shape.size()); ++d)
      src += idx[d - 1 + index_rank] * data_strides[d];
    f(i, src);
  }
}

std::vector<Literal> gatherKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(ops::resultType(n));
  forEachGathered(n, in[0]->shape(), *in[1], out.shape(),
                  [&](int64_t dst, int64_t src) { out.data[dst] = in[0]->data[src]; });
  return {out};
}

std::vector<Literal> scatterAddKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out = *in[0];
  forEachGathered(n, in[0]->shape(), *in[1], in[2]->shape(),
                  [&](int64_t upd, int64_t dst) { out.data[dst] += in[2]->data[upd]; });
  return {out};
}

std::vector<Value *> gatherVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  ops::Emit e{b};
  Value *base = e.zeros(n.operands[0]->type);
  return {b.create(op::ScatterAdd, {base, n.operands[1], g[0]}, n.attrs), nullptr};
}

std::vector<Value *> scatterAddVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  return {g[0], nullptr, b.create(op::Gather, {g[0], n.operands[1]}, n.attrs)};
}

const std::vector<AttrSpec> kGatherAttrs = {{"axis", AttrKind::Int, Attribute(int64_t{0})},
                                            {"batch_dims", AttrKind::Int, Attribute(int64_t{0})}};

} // namespace

void addIndexingOps(std::vector<OpDef> &ops) {
  ops.push_back(OpDef{
      .name = op::Gather.name,
      .summary = "picks slices of data along an axis at integer indices",
      .min_operands = 2,
      .max_operands = 2,
      .attrs = kGatherAttrs,
      .infer = inferGather,
      .reference = gatherKernel,
      .differentiable = Differentiable::Yes,
      .vjp = gatherVjp,
      .samples = {
          {{"%a: f32[2,3]", "%i: i64[2]"}, "gather(%a, %i) {axis = 1} : f32[2,2]", {{"%i", 0, 3}}},
          // An embedding lookup.
          {{"%a: f32[5,4]", "%i: i64[2,3]"}, "gather(%a, %i) : f32[2,3,4]", {{"%i", 0, 5}}},
          // Picking one class per row, as the loss does.
          {{"%a: f32[2,4]", "%i: i64[2]"},
           "gather(%a, %i) {axis = 1, batch_dims = 1} : f32[2]",
           {{"%i", 0, 4}}},
          {{"%a: f64[2,3,4]", "%i: i32[2,2]"},
           "gather(%a, %i) {axis = 1, batch_dims = 1} : f64[2,2,4]",
           {{"%i", 0, 3}}}}});
  ops.push_back(
      OpDef{.name = op::ScatterAdd.name,
            .summary = "base plus updates added at the places gather would read",
            .min_operands = 3,
            .max_operands = 3,
            .attrs = kGatherAttrs,
            .infer = inferScatterAdd,
            .reference = scatterAddKernel,
            .differentiable = Differentiable::Yes,
            .vjp = scatterAddVjp,
            // Repeated indices add up.
            .samples = {{{"%a: f32[2,3]", "%i: i64[2]", "%u: f32[2,2]"},
                         "scatter_add(%a, %i, %u) {axis = 1} : f32[2,3]",
                         {{"%i", 0, 3}}},
                        {.inputs = {"%a: f32[5,4]", "%i: i64[2,3]", "%u: f32[2,3,4]"},
                         .node = "scatter_add(%a, %i, %u) : f32[5,4]",
                         .ranges = {{"%i", 0, 5}},
                         .accumulates = true},
                        {{"%a: f32[2,4]", "%i: i64[2]", "%u: f32[2]"},
                         "scatter_add(%a, %i, %u) {axis = 1, batch_dims = 1} : f32[2,4]",
                         {{"%i", 0, 4}}},
                        {{"%a: f64[2,3,4]", "%i: i32[2,2]", "%u: f64[2,2,4]"},
                         "scatter_add(%a, %i, %u) {axis = 1, batch_dims = 1} : f64[2,3,4]",
                         {{"%i", 0, 3}}}}});
}

} // namespace kiln
