// Linear algebra: batched matmul with numpy-broadcast batch dimensions.

#include "ir/ops/ops.h"

namespace kiln {
namespace {

struct MatmulDims {
  int64_t m, k, n;
};

MatmulDims dims(const Shape &a, const Shape &b, bool ta, bool tb) {
  size_t ra = a.size(), rb = b.size();
  return {ta ? a[ra - 1] : a[ra - 2], ta ? a[ra - 2] : a[ra - 1], tb ? b[rb - 2] : b[rb - 1]};
}

std::vector<TensorType> inferMatmul(const InferContext &ctx) {
  const TensorType &a = ctx.operands[0], &b = ctx.operands[1];
  if (a.rank() < 2 || b.rank() < 2)
    ctx.error("operands must have rank 2 or more, found {} x {}", a.str(), b.str());
  if (a.dtype != b.dtype || a.dtype == DType::boolean)
    ctx.error("operands must share a numeric dtype, found {} x {}", a.str(), b.str());
  bool ta = ctx.getBool("transpose_a"), tb = ctx.getBool("transpose_b");
  MatmulDims d = dims(a.shape, b.shape, ta, tb);
  int64_t kb = tb ? b.shape[b.rank() - 1] : b.shape[b.rank() - 2];
  if (d.k != kb)
    ctx.error("inner dimensions differ: {} x {}{}", shapeStr(a.shape), shapeStr(b.shape),
              ta || tb ? fmt::format(" (transpose_a = {}, transpose_b = {})", ta, tb) : "");
  Shape batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2);
  auto batch = broadcastShapes(batch_a, batch_b);
  if (!batch)
    ctx.error("batch dimensions {} and {} do not broadcast", shapeStr(batch_a), shapeStr(batch_b));
  Shape out = *batch;
  out.push_back(d.m);
  out.push_back(d.n);
  return {TensorType{a.dtype, out}};
}

std::vector<Literal> matmulKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &a = *in[0], &b = *in[1];
  Literal out(ops::resultType(n));
  bool ta = n.getBool("transpose_a"), tb = n.getBool("transpose_b");
  MatmulDims d = dims(a.shape(), b.shape(), ta, tb);
  Shape batch(out.shape().begin(), out.shape().end() - 2);
  // Index the batches of each operand through broadcasting of their batch shapes.
  auto batch_index = [&](const Shape &s) {
    return ops::broadcastIndex(Shape(s.begin(), s.end() - 2), batch);
  };
  auto ia = batch_index(a.shape()), ib = batch_index(b.shape());
  int64_t sa = d.m * d.k, sb = d.k * d.n;
  for (int64_t p = 0; p < numElements(batch); ++p) {
    const double *pa = a.data.data() + ia[p] * sa;
    const double *pb = b.data.data() + ib[p] * sb;
    double *po = out.data.data() + p * d.m * d.n;
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < d.k; ++k)
          acc +=
              (ta ? pa[k * d.m + i] : pa[i * d.k + k]) * (tb ? pb[j * d.k + k] : pb[k * d.n + j]);
        po[i * d.n + j] = acc;
      }
  }
  return {out};
}

/// The four transpose cases of C = op(A) op(B), each gradient again one matmul.
std::vector<Value *> matmulVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  Value *a = n.operands[0], *x = n.operands[1], *dc = g[0];
  bool ta = n.getBool("transpose_a"), tb = n.getBool("transpose_b");
  auto mm = [&](Value *l, Value *r, bool tl, bool tr) {
    return b.create(op::Matmul, {l, r}, {{"transpose_a", tl}, {"transpose_b", tr}});
  };
  Value *da, *dx;
  if (!ta && !tb) {
    da = mm(dc, x, false, true);
    dx = mm(a, dc, true, false);
  } else if (!ta && tb) {
    da = mm(dc, x, false, false);
    dx = mm(dc, a, true, false);
  } else if (ta && !tb) {
    da = mm(x, dc, false, true);
    dx = mm(a, dc, false, false);
  } else {
    da = mm(x, dc, true, true);
    dx = mm(dc, a, true, true);
  }
  ops::Emit e{b};
  // A batch of rows against one shared matrix (a layer's weights, x W): the matrix's gradient
  // sums over the batch, which is one product of all the rows at once, not a batch of
  // products and then a sum.
  if (!ta && x->type.rank() == 2 && a->type.rank() > 2) {
    int64_t rows = a->type.numElements() / a->type.shape.back();
    Value *a2 = e.reshape(a, {rows, a->type.shape.back()});
    Value *dc2 = e.reshape(dc, {rows, dc->type.shape.back()});
    dx = tb ? mm(dc2, a2, true, false) : mm(a2, dc2, true, false);
  }
  return {e.unbroadcast(da, a->type.shape), e.unbroadcast(dx, x->type.shape)};
}

} // namespace

void addLinalgOps(std::vector<OpDef> &ops) {
  ops.push_back(
      OpDef{.name = op::Matmul.name,
            .summary = "batched matrix product [..., m, k] x [..., k, n]",
            .min_operands = 2,
            .max_operands = 2,
            .attrs = {{"transpose_a", AttrKind::Bool, Attribute(false)},
                      {"transpose_b", AttrKind::Bool, Attribute(false)}},
            .infer = inferMatmul,
            .reference = matmulKernel,
            .differentiable = Differentiable::Yes,
            .vjp = matmulVjp,
            .samples = {{.inputs = {"%a: f32[2,3]", "%b: f32[2,3]"},
                         .node = "matmul(%a, %b) {transpose_b = true} : f32[2,2]",
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,3,4]", "%b: f32[2,4,5]"},
                         .node = "matmul(%a, %b) : f32[2,3,5]",
                         .accumulates = true},
                        // Batch dimensions broadcast: one operand is shared.
                        {.inputs = {"%a: f32[3,2]", "%b: f32[2,1,3,4]"},
                         .node = "matmul(%a, %b) {transpose_a = true} : f32[2,1,2,4]",
                         .accumulates = true},
                        {.inputs = {"%a: f64[3,2]", "%b: f64[4,3]"},
                         .node = "matmul(%a, %b) {transpose_a = true, transpose_b = true} : "
                                 "f64[2,4]",
                         .accumulates = true}}});
}

} // namespace kiln
