// Ops that move elements without computing: reshape, transpose, broadcast_to, slice, concat.

#include "ir/ops/ops.h"

#include <algorithm>

namespace kiln {
namespace {

using ops::resultType;

/// An optional per-axis attribute (slice's stride, pad's interior): empty means `fill` on
/// every one of `rank` axes.
IntList perAxis(IntList values, size_t rank, int64_t fill) {
  if (values.empty())
    values.assign(rank, fill);
  return values;
}

std::vector<TensorType> inferReshape(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &shape = ctx.getInts("shape");
  for (int64_t d : shape)
    if (d < 0)
      ctx.error("shape {} has a negative dimension", shapeStr(shape));
  if (!validShape(shape))
    ctx.error("shape {} has more than 2^48 elements", shapeStr(shape));
  if (numElements(shape) != x.numElements())
    ctx.error("cannot reshape {} ({} elements) to {} ({} elements)", shapeStr(x.shape),
              x.numElements(), shapeStr(shape), numElements(shape));
  return {TensorType{x.dtype, shape}};
}

std::vector<Literal> reshapeKernel(const Node &n, std::span<const Literal *const> in) {
  return {Literal(resultType(n), in[0]->data)};
}

std::vector<TensorType> inferTranspose(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &perm = ctx.getInts("perm");
  IntList sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool valid = static_cast<int64_t>(perm.size()) == x.rank();
  for (int64_t i = 0; valid && i < x.rank(); ++i)
    valid = sorted[i] == i;
  if (!valid)
    ctx.error("perm {} is not a permutation of the {} axes of {}", shapeStr(perm), x.rank(),
              x.str());
  Shape out;
  for (int64_t p : perm)
    out.push_back(x.shape[p]);
  return {TensorType{x.dtype, out}};
}

std::vector<Literal> transposeKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  const IntList &perm = n.getInts("perm");
  auto in_strides = stridesOf(in[0]->shape());
  for (int64_t i = 0; i < out.size(); ++i) {
    auto idx = ops::unflatten(i, out.shape());
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d)
      src += idx[d] * in_strides[perm[d]];
    out.data[i] = in[0]->data[src];
  }
  return {out};
}

std::vector<TensorType> inferBroadcastTo(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &shape = ctx.getInts("shape");
  auto b = broadcastShapes(x.shape, shape);
  if (!b || *b != shape)
    ctx.error("cannot broadcast {} to {}", shapeStr(x.shape), shapeStr(shape));
  return {TensorType{x.dtype, shape}};
}

std::vector<Literal> broadcastToKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  auto idx = ops::broadcastIndex(in[0]->shape(), out.shape());
  for (int64_t i = 0; i < out.size(); ++i)
    out.data[i] = in[0]->data[idx[i]];
  return {out};
}

std::vector<TensorType> inferSlice(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &start = ctx.getInts("start"), &limit = ctx.getInts("limit");
  IntList stride = perAxis(ctx.getInts("stride"), x.shape.size(), 1);
  if (static_cast<int64_t>(start.size()) != x.rank() ||
      static_cast<int64_t>(limit.size()) != x.rank() ||
      static_cast<int64_t>(stride.size()) != x.rank())
    ctx.error("start, limit and stride need {} entries for {}, found {}, {} and {}", x.rank(),
              x.str(), start.size(), limit.size(), stride.size());
  Shape out;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (stride[d] < 1)
      ctx.error("stride {} on axis {} must be positive", stride[d], d);
    if (start[d] < 0 || start[d] > limit[d] || limit[d] > x.shape[d])
      ctx.error("range [{}, {}) on axis {} is outside 0..{}", start[d], limit[d], d, x.shape[d]);
    int64_t span = limit[d] - start[d];
    out.push_back(span == 0 ? 0 : 1 + (span - 1) / stride[d]);
  }
  return {TensorType{x.dtype, out}};
}

std::vector<Literal> sliceKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  const IntList &start = n.getInts("start");
  IntList stride = perAxis(n.getInts("stride"), start.size(), 1);
  auto in_strides = stridesOf(in[0]->shape());
  for (int64_t i = 0; i < out.size(); ++i) {
    auto idx = ops::unflatten(i, out.shape());
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      src += (start[d] + idx[d] * stride[d]) * in_strides[d];
    out.data[i] = in[0]->data[src];
  }
  return {out};
}

std::vector<TensorType> inferConcat(const InferContext &ctx) {
  const TensorType &first = ctx.operands[0];
  int64_t axis = ctx.axis(ctx.getInt("axis"), first.rank());
  Shape out = first.shape;
  out[axis] = 0;
  for (size_t i = 0; i < ctx.operands.size(); ++i) {
    const TensorType &t = ctx.operands[i];
    if (t.dtype != first.dtype || t.rank() != first.rank())
      ctx.error("operand {} is {}, expected {} of rank {}", i, t.str(), dtypeName(first.dtype),
                first.rank());
    for (int64_t d = 0; d < t.rank(); ++d)
      if (d != axis && t.shape[d] != first.shape[d])
        ctx.error("operand {} has shape {}, which differs from {} outside axis {}", i,
                  shapeStr(t.shape), shapeStr(first.shape), axis);
    // Each dimension is at most 2^48; many operands could still add up past int64.
    if (out[axis] > kMaxElements - t.shape[axis])
      ctx.error("the operands give axis {} more than 2^48 elements", axis);
    out[axis] += t.shape[axis];
  }
  return {TensorType{first.dtype, out}};
}

std::vector<Literal> concatKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  int64_t axis = *normalizeAxis(n.getInt("axis"), out.type.rank());
  // Rows of the output: everything before the axis; each operand contributes a chunk per row.
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= out.shape()[d];
  int64_t pos = 0;
  for (int64_t r = 0; r < outer; ++r)
    for (const Literal *x : in) {
      int64_t chunk = outer ? x->size() / outer : 0;
      std::copy_n(x->data.begin() + r * chunk, chunk, out.data.begin() + pos);
      pos += chunk;
    }
  return {out};
}

// ---- pad: zeros around and between elements, the adjoint of slice ---------------------------

std::vector<TensorType> inferPad(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  const IntList &low = ctx.getInts("low"), &high = ctx.getInts("high");
  IntList interior = perAxis(ctx.getInts("interior"), x.shape.size(), 0);
  if (static_cast<int64_t>(low.size()) != x.rank() ||
      static_cast<int64_t>(high.size()) != x.rank() ||
      static_cast<int64_t>(interior.size()) != x.rank())
    ctx.error("low, high and interior need {} entries for {}, found {}, {} and {}", x.rank(),
              x.str(), low.size(), high.size(), interior.size());
  Shape out;
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (low[d] < 0 || high[d] < 0 || interior[d] < 0)
      ctx.error("padding of axis {} must not be negative", d);
    // Far below overflow, and far beyond any tensor that fits in memory.
    constexpr int64_t kLimit = int64_t{1} << 40;
    if (low[d] > kLimit || high[d] > kLimit || interior[d] > kLimit)
      ctx.error("padding of axis {} is larger than 2^40", d);
    // Dimensions are at most 2^48 (validShape): a product with interior padding too large
    // to hold is caught before it is formed.
    int64_t gaps = std::max<int64_t>(x.shape[d] - 1, 0);
    if (gaps > 0 && interior[d] > kMaxElements / gaps)
      ctx.error("interior padding {} of axis {} makes more than 2^48 elements", interior[d], d);
    out.push_back(low[d] + high[d] + x.shape[d] + gaps * interior[d]);
  }
  return {TensorType{x.dtype, out}};
}

std::vector<Literal> padKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  const IntList &low = n.getInts("low");
  IntList interior = perAxis(n.getInts("interior"), low.size(), 0);
  auto out_strides = stridesOf(out.shape());
  for (int64_t i = 0; i < in[0]->size(); ++i) {
    auto idx = ops::unflatten(i, in[0]->shape());
    int64_t dst = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      dst += (low[d] + idx[d] * (interior[d] + 1)) * out_strides[d];
    out.data[dst] = in[0]->data[i];
  }
  return {out};
}

// ---- VJPs ------------------------------------------------------------------------------------

using Grads = std::vector<Value *>;
using Cots = std::span<Value *const>;

Grads reshapeVjp(Builder &b, const Node &n, Cots g) {
  return {ops::Emit{b}.reshape(g[0], n.operands[0]->type.shape)};
}

Grads transposeVjp(Builder &b, const Node &n, Cots g) {
  const IntList &perm = n.getInts("perm");
  IntList inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = static_cast<int64_t>(i);
  return {b.create(op::Transpose, {g[0]}, {{"perm", inverse}})};
}

Grads broadcastToVjp(Builder &b, const Node &n, Cots g) {
  return {ops::Emit{b}.unbroadcast(g[0], n.operands[0]->type.shape)};
}

Grads sliceVjp(Builder &b, const Node &n, Cots g) {
  const Shape &in = n.operands[0]->type.shape, &out = n.result()->type.shape;
  const IntList &start = n.getInts("start");
  IntList stride = perAxis(n.getInts("stride"), in.size(), 1);
  IntList low, high, interior;
  for (size_t d = 0; d < in.size(); ++d) {
    int64_t last = out[d] ? start[d] + (out[d] - 1) * stride[d] + 1 : start[d];
    low.push_back(start[d]);
    high.push_back(in[d] - last);
    interior.push_back(stride[d] - 1);
  }
  return {b.create(op::Pad, {g[0]}, {{"low", low}, {"high", high}, {"interior", interior}})};
}

Grads padVjp(Builder &b, const Node &n, Cots g) {
  const Shape &in = n.operands[0]->type.shape;
  const IntList &low = n.getInts("low");
  IntList interior = perAxis(n.getInts("interior"), in.size(), 0);
  IntList start, limit, stride;
  for (size_t d = 0; d < in.size(); ++d) {
    start.push_back(low[d]);
    limit.push_back(in[d] ? low[d] + (in[d] - 1) * (interior[d] + 1) + 1 : low[d]);
    stride.push_back(interior[d] + 1);
  }
  return {b.create(op::Slice, {g[0]}, {{"start", start}, {"limit", limit}, {"stride", stride}})};
}

Grads concatVjp(Builder &b, const Node &n, Cots g) {
  const Shape &out = n.result()->type.shape;
  int64_t axis = *normalizeAxis(n.getInt("axis"), static_cast<int64_t>(out.size()));
  Grads grads;
  int64_t offset = 0;
  for (const Value *x : n.operands) {
    IntList start(out.size(), 0), limit(out.begin(), out.end());
    start[axis] = offset;
    limit[axis] = offset + x->type.shape[axis];
    offset = limit[axis];
    grads.push_back(b.create(op::Slice, {g[0]}, {{"start", start}, {"limit", limit}}));
  }
  return grads;
}

} // namespace

void addShapeOps(std::vector<OpDef> &ops) {
  ops.push_back(OpDef{.name = op::Reshape.name,
                      .summary = "same elements in row-major order, new shape",
                      .min_operands = 1,
                      .max_operands = 1,
                      .attrs = {{"shape", AttrKind::Ints}},
                      .infer = inferReshape,
                      .reference = reshapeKernel,
                      .differentiable = Differentiable::Yes,
                      .vjp = reshapeVjp,
                      .samples = {{{"%a: f32[2,3]"}, "reshape(%a) {shape = [3, 2]} : f32[3,2]"},
                                  {{"%a: f32[2,3,4]"}, "reshape(%a) {shape = [6, 4]} : f32[6,4]"},
                                  {{"%a: i64[6]"}, "reshape(%a) {shape = [2, 1, 3]} : i64[2,1,3]"},
                                  {{"%a: bool[2,3]"}, "reshape(%a) {shape = [6]} : bool[6]"}}});
  ops.push_back(OpDef{
      .name = op::Transpose.name,
      .summary = "permutes axes: result axis i is operand axis perm[i]",
      .min_operands = 1,
      .max_operands = 1,
      .attrs = {{"perm", AttrKind::Ints}},
      .infer = inferTranspose,
      .reference = transposeKernel,
      .differentiable = Differentiable::Yes,
      .vjp = transposeVjp,
      .samples = {{{"%a: f32[2,3]"}, "transpose(%a) {perm = [1, 0]} : f32[3,2]"},
                  {{"%a: f32[2,3,4]"}, "transpose(%a) {perm = [2, 0, 1]} : f32[4,2,3]"},
                  {{"%a: f32[2,3,4,5]"}, "transpose(%a) {perm = [0, 2, 1, 3]} : f32[2,4,3,5]"},
                  {{"%a: i32[2,3]"}, "transpose(%a) {perm = [1, 0]} : i32[3,2]"}}});
  ops.push_back(
      OpDef{.name = op::BroadcastTo.name,
            .summary = "numpy broadcasting to an explicit shape",
            .min_operands = 1,
            .max_operands = 1,
            .attrs = {{"shape", AttrKind::Ints}},
            .infer = inferBroadcastTo,
            .reference = broadcastToKernel,
            .differentiable = Differentiable::Yes,
            .vjp = broadcastToVjp,
            .samples = {{{"%a: f32[2,3]"}, "broadcast_to(%a) {shape = [4, 2, 3]} : f32[4,2,3]"},
                        {{"%a: f32[3,1]"}, "broadcast_to(%a) {shape = [2, 3, 4]} : f32[2,3,4]"},
                        {{"%a: f64[]"}, "broadcast_to(%a) {shape = [2, 3]} : f64[2,3]"},
                        {{"%a: bool[1,3]"}, "broadcast_to(%a) {shape = [2, 3]} : bool[2,3]"}}});
  ops.push_back(
      OpDef{.name = op::Slice.name,
            .summary = "elements start[d] <= i < limit[d] stepping by stride[d]",
            .min_operands = 1,
            .max_operands = 1,
            .attrs = {{"limit", AttrKind::Ints},
                      {"start", AttrKind::Ints},
                      {"stride", AttrKind::Ints, Attribute(IntList{})}},
            .infer = inferSlice,
            .reference = sliceKernel,
            .differentiable = Differentiable::Yes,
            .vjp = sliceVjp,
            .samples = {{{"%a: f32[2,3]"},
                         "slice(%a) {limit = [2, 3], start = [1, 0], stride = [1, 2]} : f32[1,2]"},
                        {{"%a: f32[4,5]"},
                         "slice(%a) {limit = [4, 5], start = [1, 0], stride = [2, 2]} : f32[2,3]"},
                        {{"%a: f32[2,3,4]"},
                         "slice(%a) {limit = [2, 3, 4], start = [0, 1, 1]} : f32[2,2,3]"},
                        {{"%a: i64[6]"}, "slice(%a) {limit = [5], start = [1]} : i64[4]"}}});
  ops.push_back(OpDef{
      .name = op::Concat.name,
      .summary = "joins operands along an axis",
      .min_operands = 1,
      .max_operands = -1,
      .attrs = {{"axis", AttrKind::Int}},
      .infer = inferConcat,
      .reference = concatKernel,
      .differentiable = Differentiable::Yes,
      .vjp = concatVjp,
      .samples = {{{"%a: f32[2,3]", "%b: f32[2,3]"}, "concat(%a, %b) {axis = 1} : f32[2,6]"},
                  {{"%a: f32[1,3]", "%b: f32[2,3]", "%c: f32[3,3]"},
                   "concat(%a, %b, %c) {axis = 0} : f32[6,3]"},
                  {{"%a: f32[2,2,1]", "%b: f32[2,2,3]"}, "concat(%a, %b) {axis = -1} : f32[2,2,4]"},
                  {{"%a: i64[2]", "%b: i64[3]"}, "concat(%a, %b) {axis = 0} : i64[5]"}}});
  ops.push_back(OpDef{
      .name = op::Pad.name,
      .summary = "zeros: low[d] before, high[d] after and interior[d] between the "
                 "elements of each axis (the adjoint of slice)",
      .min_operands = 1,
      .max_operands = 1,
      .attrs = {{"high", AttrKind::Ints},
                {"interior", AttrKind::Ints, Attribute(IntList{})},
                {"low", AttrKind::Ints}},
      .infer = inferPad,
      .reference = padKernel,
      .differentiable = Differentiable::Yes,
      .vjp = padVjp,
      .samples = {
          {{"%a: f32[2,3]"}, "pad(%a) {high = [0, 2], interior = [1, 0], low = [1, 0]} : f32[4,5]"},
          {{"%a: f32[2,3]"}, "pad(%a) {high = [1, 0], interior = [0, 1], low = [0, 2]} : f32[3,7]"},
          {{"%a: f32[2,3,2]"}, "pad(%a) {high = [0, 1, 1], low = [1, 0, 0]} : f32[3,4,3]"},
          {{"%a: i32[3]"}, "pad(%a) {high = [1], interior = [2], low = [0]} : i32[8]"}}});
}

} // namespace kiln
