// Indexing ops: gather along an axis (embedding lookup, picking target log-probabilities) and
// its adjoint scatter_add. With batch_dims = b the first b axes of data and indices are paired
// (TensorFlow's gather semantics): result shape is data[:axis] + indices[b:] + data[axis+1:].
//
// dynamic_slice and dynamic_update_slice read and write a box whose corner is given at run time,
// one scalar integer operand an axis, as StableHLO's ops of those names: a corner is clamped so
// that the box lies inside the operand. A decode step writes its keys and values into the KV
// cache at the position it is given with dynamic_update_slice.

#include "ir/ops/ops.h"

#include <algorithm>

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

// ---- dynamic_slice and dynamic_update_slice --------------------------------------------------

/// Checks the corner operands from `first` on: one scalar integer per axis of `rank`.
void checkStarts(const InferContext &ctx, size_t first, int64_t rank) {
  if (static_cast<int64_t>(ctx.operands.size() - first) != rank)
    ctx.error("needs {} start indices, one for each axis of {}, found {}", rank,
              ctx.operands[0].str(), ctx.operands.size() - first);
  for (size_t i = first; i < ctx.operands.size(); ++i)
    if (!isInteger(ctx.operands[i].dtype) || ctx.operands[i].rank() != 0)
      ctx.error("start index {} must be a scalar i32 or i64, found {}", i - first,
                ctx.operands[i].str());
}

std::vector<TensorType> inferDynamicSlice(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &sizes = ctx.getInts("sizes");
  if (static_cast<int64_t>(sizes.size()) != x.rank())
    ctx.error("sizes {} need {} entries for {}", shapeStr(sizes), x.rank(), x.str());
  for (int64_t d = 0; d < x.rank(); ++d)
    if (sizes[d] < 0 || sizes[d] > x.shape[d])
      ctx.error("size {} on axis {} is outside 0..{}", sizes[d], d, x.shape[d]);
  checkStarts(ctx, 1, x.rank());
  return {TensorType{x.dtype, sizes}};
}

std::vector<TensorType> inferDynamicUpdateSlice(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0], &u = ctx.operands[1];
  if (u.dtype != x.dtype || u.rank() != x.rank())
    ctx.error("update {} must have the dtype and rank of {}", u.str(), x.str());
  for (int64_t d = 0; d < x.rank(); ++d)
    if (u.shape[d] > x.shape[d])
      ctx.error("update {} is larger than {} on axis {}", u.str(), x.str(), d);
  checkStarts(ctx, 2, x.rank());
  return {x};
}

/// The corner of the box of shape `box` inside `shape`: each start operand clamped to
/// [0, shape[d] - box[d]].
std::vector<int64_t> clampedCorner(std::span<const Literal *const> starts, const Shape &shape,
                                   const Shape &box) {
  std::vector<int64_t> corner(shape.size());
  for (size_t d = 0; d < shape.size(); ++d)
    corner[d] = static_cast<int64_t>(
        std::clamp(starts[d]->data[0], 0.0, static_cast<double>(shape[d] - box[d])));
  return corner;
}

/// Calls f(box flat index, operand flat index) for every element of the box at `corner`.
template <typename F>
void forEachInBox(const Shape &shape, const Shape &box, const std::vector<int64_t> &corner, F f) {
  auto strides = stridesOf(shape);
  int64_t total = numElements(box);
  for (int64_t i = 0; i < total; ++i) {
    auto idx = ops::unflatten(i, box);
    int64_t at = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      at += (corner[d] + idx[d]) * strides[d];
    f(i, at);
  }
}

std::vector<Literal> dynamicSliceKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(ops::resultType(n));
  auto corner = clampedCorner(in.subspan(1), in[0]->shape(), out.shape());
  forEachInBox(in[0]->shape(), out.shape(), corner,
               [&](int64_t i, int64_t at) { out.data[i] = in[0]->data[at]; });
  return {out};
}

std::vector<Literal> dynamicUpdateSliceKernel(const Node &, std::span<const Literal *const> in) {
  Literal out = *in[0];
  auto corner = clampedCorner(in.subspan(2), in[0]->shape(), in[1]->shape());
  forEachInBox(in[0]->shape(), in[1]->shape(), corner,
               [&](int64_t i, int64_t at) { out.data[at] = in[1]->data[i]; });
  return {out};
}

/// The start operands of a dynamic slice node from `first` on.
std::vector<Value *> startsOf(const Node &n, size_t first) {
  return {n.operands.begin() + static_cast<std::ptrdiff_t>(first), n.operands.end()};
}

/// The slice's gradient is g written into zeros where the slice was read.
std::vector<Value *> dynamicSliceVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  ops::Emit e{b};
  std::vector<Value *> operands = {e.zeros(n.operands[0]->type), g[0]};
  for (Value *s : startsOf(n, 1))
    operands.push_back(s);
  std::vector<Value *> grads(n.operands.size(), nullptr);
  grads[0] = b.create(op::DynamicUpdateSlice, operands);
  return grads;
}

/// The operand's gradient is g with the overwritten box zeroed; the update's is that box of g.
std::vector<Value *> dynamicUpdateSliceVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  ops::Emit e{b};
  auto starts = startsOf(n, 2);
  std::vector<Value *> zeroed = {g[0], e.zeros(n.operands[1]->type)};
  zeroed.insert(zeroed.end(), starts.begin(), starts.end());
  std::vector<Value *> sliced = {g[0]};
  sliced.insert(sliced.end(), starts.begin(), starts.end());
  std::vector<Value *> grads(n.operands.size(), nullptr);
  grads[0] = b.create(op::DynamicUpdateSlice, zeroed);
  grads[1] = b.create(op::DynamicSlice, sliced, {{"sizes", n.operands[1]->type.shape}});
  return grads;
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
      OpDef{.name = op::DynamicSlice.name,
            .summary = "the box of the given sizes at a corner given at run time, clamped inside",
            .min_operands = 1,
            .max_operands = -1,
            .attrs = {{"sizes", AttrKind::Ints}},
            .infer = inferDynamicSlice,
            .reference = dynamicSliceKernel,
            .differentiable = Differentiable::Yes,
            .vjp = dynamicSliceVjp,
            .samples = {{{"%a: f32[4,3]", "%i: i64[]", "%j: i64[]"},
                         "dynamic_slice(%a, %i, %j) {sizes = [2, 3]} : f32[2,3]",
                         {{"%i", 0, 3}, {"%j", 0, 1}}},
                        // Corners past the end are clamped: rows 2..3 whatever %i is.
                        {{"%a: f32[4,3]", "%i: i64[]", "%j: i32[]"},
                         "dynamic_slice(%a, %i, %j) {sizes = [2, 2]} : f32[2,2]",
                         {{"%i", 2, 9}, {"%j", -3, 3}}},
                        // A decode step's positional encoding: one row of a table.
                        {{"%a: f64[8,4]", "%p: i64[]", "%z: i64[]"},
                         "dynamic_slice(%a, %p, %z) {sizes = [1, 4]} : f64[1,4]",
                         {{"%p", 0, 8}, {"%z", 0, 1}}}}});
  ops.push_back(OpDef{
      .name = op::DynamicUpdateSlice.name,
      .summary = "the operand with a box overwritten by update at a corner given at run time, "
                 "clamped inside",
      .min_operands = 2,
      .max_operands = -1,
      .infer = inferDynamicUpdateSlice,
      .reference = dynamicUpdateSliceKernel,
      .differentiable = Differentiable::Yes,
      .vjp = dynamicUpdateSliceVjp,
      .samples = {{{"%a: f32[4,3]", "%u: f32[2,3]", "%i: i64[]", "%j: i64[]"},
                   "dynamic_update_slice(%a, %u, %i, %j) : f32[4,3]",
                   {{"%i", 0, 3}, {"%j", 0, 1}}},
                  {{"%a: f32[4,3]", "%u: f32[2,2]", "%i: i32[]", "%j: i32[]"},
                   "dynamic_update_slice(%a, %u, %i, %j) : f32[4,3]",
                   {{"%i", -2, 9}, {"%j", -3, 5}}},
                  // A KV cache [B, H, capacity, dk] taking one position's keys.
                  {{"%c: f32[2,2,5,3]", "%k: f32[2,2,1,3]", "%z: i64[]", "%p: i64[]"},
                   "dynamic_update_slice(%c, %k, %z, %z, %p, %z) : f32[2,2,5,3]",
                   {{"%z", 0, 1}, {"%p", 0, 5}}}}});
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
