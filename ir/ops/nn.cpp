// The fused ops of the Transformer: softmax, layer_norm, attention, softmax_cross_entropy.
// The DSL never emits them; the fusion passes find them in what users wrote.

#include "ir/ops/ops.h"

#include <cmath>

namespace kiln {
namespace {

using ops::resultType;

/// Splits a shape around an axis into (outer, size, inner) element counts.
struct AxisSplit {
  int64_t outer = 1, size = 1, inner = 1;
};

AxisSplit splitAt(const Shape &s, int64_t axis) {
  AxisSplit r;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    (d < axis ? r.outer : d == axis ? r.size : r.inner) *= s[d];
  return r;
}

// ---- softmax ---------------------------------------------------------------------------------

std::vector<TensorType> inferSoftmax(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  ctx.axis(ctx.getInt("axis"), ctx.operands[0].rank());
  return {ctx.operands[0]};
}

std::vector<Literal> softmaxKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  int64_t axis = *normalizeAxis(n.getInt("axis"), out.type.rank());
  AxisSplit s = splitAt(out.shape(), axis);
  std::vector<double> row(s.size);
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      for (int64_t j = 0; j < s.size; ++j)
        row[j] = in[0]->data[(o * s.size + j) * s.inner + i];
      ops::softmaxRows(row, s.size);
      for (int64_t j = 0; j < s.size; ++j)
        out.data[(o * s.size + j) * s.inner + i] = row[j];
    }
  return {out};
}

// ---- layer_norm ------------------------------------------------------------------------------

std::vector<TensorType> inferLayerNorm(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  const TensorType &x = ctx.operands[0];
  int64_t axis = ctx.axis(ctx.getInt("axis"), x.rank());
  if (ctx.getFloat("eps") < 0)
    ctx.error("eps must be non-negative, found {}", ctx.getFloat("eps"));
  Shape normalized(x.shape.begin() + axis, x.shape.end());
  for (size_t i = 1; i < ctx.operands.size(); ++i) {
    const TensorType &p = ctx.operands[i];
    if (p.dtype != x.dtype || p.shape != normalized)
      ctx.error("{} must be {}, found {}", i == 1 ? "weight" : "bias",
                TensorType{x.dtype, normalized}.str(), p.str());
  }
  return {x};
}

std::vector<Literal> layerNormKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  int64_t axis = *normalizeAxis(n.getInt("axis"), out.type.rank());
  int64_t m = 1;
  for (int64_t d = axis; d < out.type.rank(); ++d)
    m *= out.shape()[d];
  double eps = n.getFloat("eps");
  for (int64_t r = 0; m && r < out.size() / m; ++r) {
    const double *x = in[0]->data.data() + r * m;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < m; ++j)
      mean += x[j];
    mean /= static_cast<double>(m);
    for (int64_t j = 0; j < m; ++j)
      var += (x[j] - mean) * (x[j] - mean);
    var /= static_cast<double>(m);
    double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < m; ++j) {
      double y = (x[j] - mean) * rstd;
      if (in.size() > 1)
        y *= in[1]->data[j];
      if (in.size() > 2)
        y += in[2]->data[j];
      out.data[r * m + j] = y;
    }
  }
  return {out};
}

// ---- attention -------------------------------------------------------------------------------

std::vector<TensorType> inferAttention(const InferContext &ctx) {
  const TensorType &q = ctx.operands[0], &k = ctx.operands[1], &v = ctx.operands[2];
  for (int i = 0; i < 3; ++i)
    ops::requireFloat(ctx, i);
  if (q.rank() < 2 || k.rank() != q.rank() || v.rank() != q.rank())
    ctx.error("q, k and v must share a rank of 2 or more, found {}, {} and {}", q.str(), k.str(), v.str());
  if (k.dtype != q.dtype || v.dtype != q.dtype)
    ctx.error("q, k and v must share a dtype, found {}, {} and {}", q.str(), k.str(), v.str());
  int64_t r = q.rank();
  Shape batch(q.shape.begin(), q.shape.end() - 2);
  if (Shape(k.shape.begin(), k.shape.end() - 2) != batch || Shape(v.shape.begin(), v.shape.end() - 2) != batch)
    ctx.error("batch dimensions differ: q {}, k {}, v {}", shapeStr(q.shape), shapeStr(k.shape), shapeStr(v.shape));
  if (q.shape[r - 1] != k.shape[r - 1])
    ctx.error("q and k head sizes differ: {} and {}", shapeStr(q.shape), shapeStr(k.shape));
  if (k.shape[r - 2] != v.shape[r - 2])
    ctx.error("k and v lengths differ: {} and {}", shapeStr(k.shape), shapeStr(v.shape));
  Shape scores = batch;
  scores.push_back(q.shape[r - 2]);
  scores.push_back(k.shape[r - 2]);
  if (ctx.operands.size() == 4) {
    const TensorType &mask = ctx.operands[3];
    if (mask.dtype != DType::boolean && mask.dtype != q.dtype)
      ctx.error("mask must be bool or {}, found {}", dtypeName(q.dtype), mask.str());
    auto b = broadcastShapes(mask.shape, scores);
    if (!b || *b != scores)
      ctx.error("mask {} does not broadcast to the scores {}", shapeStr(mask.shape), shapeStr(scores));
  }
  Shape out = batch;
  out.push_back(q.shape[r - 2]);
  out.push_back(v.shape[r - 1]);
  return {TensorType{q.dtype, out}};
}

std::vector<Literal> attentionKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &q = *in[0], &k = *in[1], &v = *in[2];
  Literal out(resultType(n));
  int64_t r = q.type.rank();
  int64_t tq = q.shape()[r - 2], tk = k.shape()[r - 2], d = q.shape()[r - 1], dv = v.shape()[r - 1];
  int64_t batches = numElements(Shape(q.shape().begin(), q.shape().end() - 2));
  Shape scores_shape(q.shape().begin(), q.shape().end() - 2);
  scores_shape.push_back(tq);
  scores_shape.push_back(tk);
  std::vector<int64_t> mask_index;
  if (in.size() == 4)
    mask_index = ops::broadcastIndex(in[3]->shape(), scores_shape);
  bool bool_mask = in.size() == 4 && in[3]->type.dtype == DType::boolean;
  double scale = n.getFloat("scale");
  bool causal = n.getBool("causal");
  std::vector<double> row(tk);
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t i = 0; i < tq; ++i) {
      for (int64_t j = 0; j < tk; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c)
          s += q.data[(b * tq + i) * d + c] * k.data[(b * tk + j) * d + c];
        s *= scale;
        if (!mask_index.empty()) {
          double m = in[3]->data[mask_index[(b * tq + i) * tk + j]];
          s = bool_mask ? (m != 0 ? -INFINITY : s) : s + m;
        }
        if (causal && j > i)
          s = -INFINITY;
        row[j] = s;
      }
      ops::softmaxRows(row, tk);
      for (int64_t c = 0; c < dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < tk; ++j)
          acc += row[j] * v.data[(b * tk + j) * dv + c];
        out.data[(b * tq + i) * dv + c] = acc;
      }
    }
  return {out};
}

// ---- softmax_cross_entropy -------------------------------------------------------------------

std::vector<TensorType> inferCrossEntropy(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  const TensorType &logits = ctx.operands[0], &labels = ctx.operands[1];
  if (!isInteger(labels.dtype))
    ctx.error("labels must be i32 or i64, found {}", labels.str());
  if (logits.rank() < 1 || Shape(logits.shape.begin(), logits.shape.end() - 1) != labels.shape)
    ctx.error("labels {} must have the shape of logits {} without its last axis", shapeStr(labels.shape),
              shapeStr(logits.shape));
  double eps = ctx.getFloat("label_smoothing");
  if (eps < 0 || eps > 1)
    ctx.error("label_smoothing must lie in [0, 1], found {}", eps);
  return {TensorType{logits.dtype, {}}};
}

std::vector<Literal> crossEntropyKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &logits = *in[0], &labels = *in[1];
  int64_t classes = logits.shape().back();
  int64_t ignore = n.getInt("ignore_index");
  double eps = n.getFloat("label_smoothing");
  double total = 0;
  int64_t count = 0;
  std::vector<double> logp(classes);
  for (int64_t r = 0; r < labels.size(); ++r) {
    auto y = static_cast<int64_t>(labels.data[r]);
    if (y == ignore)
      continue;
    if (y < 0 || y >= classes)
      throw Error(n.loc, fmt::format("softmax_cross_entropy: label {} is out of range [0, {})", y, classes));
    const double *x = logits.data.data() + r * classes;
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < classes; ++c)
      m = std::max(m, x[c]);
    for (int64_t c = 0; c < classes; ++c)
      s += std::exp(x[c] - m);
    double lse = m + std::log(s), smooth = 0;
    for (int64_t c = 0; c < classes; ++c)
      smooth += lse - x[c];
    total += (1 - eps) * (lse - x[y]) + eps * smooth / static_cast<double>(classes);
    ++count;
  }
  return {Literal(resultType(n), {total / static_cast<double>(count)})};
}

} // namespace

void addNNOps(std::vector<OpDef> &ops) {
  ops.push_back(OpDef{.name = "softmax",
                      .summary = "exp(x - max) / sum(exp(x - max)) along an axis",
                      .min_operands = 1,
                      .max_operands = 1,
                      .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})}},
                      .infer = inferSoftmax,
                      .reference = softmaxKernel});
  ops.push_back(OpDef{.name = "layer_norm",
                      .summary = "(x - mean) / sqrt(var + eps) over axes axis.., then * weight + bias",
                      .min_operands = 1,
                      .max_operands = 3,
                      .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})},
                                {"eps", AttrKind::Float, Attribute(1e-5)}},
                      .infer = inferLayerNorm,
                      .reference = layerNormKernel});
  ops.push_back(OpDef{.name = "attention",
                      .summary = "softmax(q k^T * scale + mask) v; a bool mask is true where "
                                 "attending is not allowed (PyTorch's convention); causal hides "
                                 "keys after the query",
                      .min_operands = 3,
                      .max_operands = 4,
                      .attrs = {{"causal", AttrKind::Bool, Attribute(false)}, {"scale", AttrKind::Float}},
                      .infer = inferAttention,
                      .reference = attentionKernel});
  ops.push_back(OpDef{.name = "softmax_cross_entropy",
                      .summary = "mean over non-ignored labels of -log softmax(logits)[label], "
                                 "with PyTorch's label smoothing",
                      .min_operands = 2,
                      .max_operands = 2,
                      .attrs = {{"ignore_index", AttrKind::Int, Attribute(int64_t{-100})},
                                {"label_smoothing", AttrKind::Float, Attribute(0.0)}},
                      .infer = inferCrossEntropy,
                      .reference = crossEntropyKernel});
}

} // namespace kiln
