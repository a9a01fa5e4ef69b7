// The fused ops of the Transformer: softmax, layer_norm and softmax_cross_entropy, with their
// backward ops. Attention has a file of its own.
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

// ---- softmax_cross_entropy -------------------------------------------------------------------

std::vector<TensorType> inferCrossEntropy(const InferContext &ctx) {
  ops::requireFloat(ctx, 0);
  const TensorType &logits = ctx.operands[0], &labels = ctx.operands[1];
  if (!isInteger(labels.dtype))
    ctx.error("labels must be i32 or i64, found {}", labels.str());
  if (logits.rank() < 1 || Shape(logits.shape.begin(), logits.shape.end() - 1) != labels.shape)
    ctx.error("labels {} must have the shape of logits {} without its last axis",
              shapeStr(labels.shape), shapeStr(logits.shape));
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
      throw Error(n.loc, fmt::format("softmax_cross_entropy: label {} is out of range [0, {})", y,
                                     classes));
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

// ---- backward ops ----------------------------------------------------------------------------

std::vector<TensorType> inferSoftmaxGrad(const InferContext &ctx) {
  if (ctx.operands[0] != ctx.operands[1])
    ctx.error("y and the cotangent must have one type, found {} and {}", ctx.operands[0].str(),
              ctx.operands[1].str());
  return inferSoftmax(ctx);
}

/// dx = y * (g - sum(g * y)) along the axis.
std::vector<Literal> softmaxGradKernel(const Node &n, std::span<const Literal *const> in) {
  Literal out(resultType(n));
  int64_t axis = *normalizeAxis(n.getInt("axis"), out.type.rank());
  AxisSplit s = splitAt(out.shape(), axis);
  const auto &y = in[0]->data, &g = in[1]->data;
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      double dot = 0;
      for (int64_t j = 0; j < s.size; ++j)
        dot += y[(o * s.size + j) * s.inner + i] * g[(o * s.size + j) * s.inner + i];
      for (int64_t j = 0; j < s.size; ++j) {
        int64_t at = (o * s.size + j) * s.inner + i;
        out.data[at] = y[at] * (g[at] - dot);
      }
    }
  return {out};
}

/// Operands (x, g) or (x, weight, g); results dx, dweight, dbias.
std::vector<TensorType> inferLayerNormGrad(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0], &g = ctx.operands.back();
  if (g != x)
    ctx.error("the cotangent must be {}, found {}", x.str(), g.str());
  std::vector<TensorType> head(ctx.operands.begin(), ctx.operands.end() - 1);
  InferContext inner{ctx.op, head, ctx.attrs, ctx.loc};
  inferLayerNorm(inner);
  int64_t axis = ctx.axis(ctx.getInt("axis"), x.rank());
  TensorType param{x.dtype, Shape(x.shape.begin() + axis, x.shape.end())};
  return {x, param, param};
}

std::vector<Literal> layerNormGradKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &x = *in[0], &g = *in.back();
  const Literal *w = in.size() == 3 ? in[1] : nullptr;
  Literal dx(resultType(n, 0)), dw(resultType(n, 1)), db(resultType(n, 2));
  int64_t m = dw.size();
  double eps = n.getFloat("eps");
  std::vector<double> xhat(m), dyhat(m);
  for (int64_t r = 0; m && r < x.size() / m; ++r) {
    const double *xr = x.data.data() + r * m, *gr = g.data.data() + r * m;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < m; ++j)
      mean += xr[j];
    mean /= static_cast<double>(m);
    for (int64_t j = 0; j < m; ++j)
      var += (xr[j] - mean) * (xr[j] - mean);
    double rstd = 1.0 / std::sqrt(var / static_cast<double>(m) + eps);
    double mean_dy = 0, mean_dy_xhat = 0;
    for (int64_t j = 0; j < m; ++j) {
      xhat[j] = (xr[j] - mean) * rstd;
      dyhat[j] = gr[j] * (w ? w->data[j] : 1.0);
      mean_dy += dyhat[j] / static_cast<double>(m);
      mean_dy_xhat += dyhat[j] * xhat[j] / static_cast<double>(m);
      dw.data[j] += gr[j] * xhat[j];
      db.data[j] += gr[j];
    }
    for (int64_t j = 0; j < m; ++j)
      dx.data[r * m + j] = rstd * (dyhat[j] - mean_dy - xhat[j] * mean_dy_xhat);
  }
  return {dx, dw, db};
}

std::vector<TensorType> inferCrossEntropyGrad(const InferContext &ctx) {
  std::vector<TensorType> head(ctx.operands.begin(), ctx.operands.end() - 1);
  InferContext inner{ctx.op, head, ctx.attrs, ctx.loc};
  TensorType loss = inferCrossEntropy(inner)[0];
  if (ctx.operands.back() != loss)
    ctx.error("the cotangent must be {}, found {}", loss.str(), ctx.operands.back().str());
  return {ctx.operands[0]};
}

/// d loss / d logits = g / count * (softmax - (1 - eps) onehot - eps / V) on counted rows.
std::vector<Literal> crossEntropyGradKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &logits = *in[0], &labels = *in[1];
  double g = in[2]->data[0];
  Literal out(resultType(n));
  int64_t classes = logits.shape().back();
  int64_t ignore = n.getInt("ignore_index");
  double eps = n.getFloat("label_smoothing");
  int64_t count = 0;
  for (double y : labels.data)
    count += static_cast<int64_t>(y) != ignore;
  std::vector<double> p(classes);
  for (int64_t r = 0; r < labels.size(); ++r) {
    auto y = static_cast<int64_t>(labels.data[r]);
    if (y == ignore)
      continue;
    if (y < 0 || y >= classes)
      throw Error(n.loc, fmt::format("{}: label {} is out of range [0, {})", n.name(), y, classes));
    std::copy_n(logits.data.begin() + r * classes, classes, p.begin());
    ops::softmaxRows(p, classes);
    for (int64_t c = 0; c < classes; ++c)
      out.data[r * classes + c] =
          g / static_cast<double>(count) *
          (p[c] - (c == y ? 1 - eps : 0.0) - eps / static_cast<double>(classes));
  }
  return {out};
}

// ---- VJPs of the fused ops -------------------------------------------------------------------

using Grads = std::vector<Value *>;
using Cots = std::span<Value *const>;

Grads softmaxVjp(Builder &b, const Node &n, Cots g) {
  return {b.create(op::SoftmaxGrad, {n.result(), g[0]}, n.attrs)};
}

Grads layerNormVjp(Builder &b, const Node &n, Cots g) {
  std::vector<Value *> operands = {n.operands[0]};
  if (n.operands.size() > 1)
    operands.push_back(n.operands[1]);
  operands.push_back(g[0]);
  Node *grad = b.createNode(op::LayerNormGrad, operands, n.attrs);
  Grads out = {grad->result(0)};
  if (n.operands.size() > 1)
    out.push_back(grad->result(1));
  if (n.operands.size() > 2)
    out.push_back(grad->result(2));
  return out;
}

Grads crossEntropyVjp(Builder &b, const Node &n, Cots g) {
  return {b.create(op::SoftmaxCrossEntropyGrad, {n.operands[0], n.operands[1], g[0]}, n.attrs),
          nullptr};
}

} // namespace

void addNNOps(std::vector<OpDef> &ops) {
  ops.push_back(OpDef{
      .name = op::Softmax.name,
      .summary = "exp(x - max) / sum(exp(x - max)) along an axis",
      .min_operands = 1,
      .max_operands = 1,
      .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})}},
      .infer = inferSoftmax,
      .reference = softmaxKernel,
      .differentiable = Differentiable::Yes,
      .vjp = softmaxVjp,
      .samples = {
          {.inputs = {"%a: f32[2,3]"},
           .node = "softmax(%a) {axis = 0} : f32[2,3]",
           .accumulates = true},
          {.inputs = {"%a: f32[2,3,5]"},
           .node = "softmax(%a) : f32[2,3,5]",
           .ranges = {{"%a", -3, 3}},
           .accumulates = true},
          {.inputs = {"%a: f64[4,3]"},
           .node = "softmax(%a) {axis = 1} : f64[4,3]",
           .accumulates = true},
          {.inputs = {"%a: bf16[2,4]"}, .node = "softmax(%a) : bf16[2,4]", .accumulates = true}}});
  ops.push_back(
      OpDef{.name = op::LayerNorm.name,
            .summary = "(x - mean) / sqrt(var + eps) over axes axis.., then * weight + bias",
            .min_operands = 1,
            .max_operands = 3,
            .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})},
                      {"eps", AttrKind::Float, Attribute(1e-5)}},
            .infer = inferLayerNorm,
            .reference = layerNormKernel,
            .differentiable = Differentiable::Yes,
            .vjp = layerNormVjp,
            .samples = {{.inputs = {"%a: f32[2,3]"},
                         .node = "layer_norm(%a) {eps = 1e-06} : f32[2,3]",
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,4]", "%w: f32[4]", "%b: f32[4]"},
                         .node = "layer_norm(%a, %w, %b) : f32[2,4]",
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,2,3]", "%w: f32[2,3]"},
                         .node = "layer_norm(%a, %w) {axis = 1} : f32[2,2,3]",
                         .accumulates = true},
                        {.inputs = {"%a: f64[3,4]", "%w: f64[4]", "%b: f64[4]"},
                         .node = "layer_norm(%a, %w, %b) : f64[3,4]",
                         .accumulates = true}}});
  ops.push_back(
      OpDef{.name = op::SoftmaxCrossEntropy.name,
            .summary = "mean over non-ignored labels of -log softmax(logits)[label], "
                       "with PyTorch's label smoothing",
            .min_operands = 2,
            .max_operands = 2,
            .attrs = {{"ignore_index", AttrKind::Int, Attribute(int64_t{-100})},
                      {"label_smoothing", AttrKind::Float, Attribute(0.0)}},
            .infer = inferCrossEntropy,
            .reference = crossEntropyKernel,
            .differentiable = Differentiable::Yes,
            .vjp = crossEntropyVjp,
            .samples = {
                {.inputs = {"%a: f32[2,3]", "%i: i64[2]"},
                 .node = "softmax_cross_entropy(%a, %i) {label_smoothing = 0.1} : f32[]",
                 .ranges = {{"%i", 0, 3}},
                 .accumulates = true},
                // Labels equal to ignore_index drop out of the mean.
                {.inputs = {"%a: f32[2,3,5]", "%t: i64[2,3]"},
                 .node = "softmax_cross_entropy(%a, %t) {ignore_index = 0} : f32[]",
                 .ranges = {{"%a", -3, 3}, {"%t", 0, 5}},
                 .accumulates = true},
                {.inputs = {"%a: f32[4,5]", "%t: i32[4]"},
                 .node = "softmax_cross_entropy(%a, %t) {ignore_index = 1, label_smoothing = 0.1} "
                         ": f32[]",
                 .ranges = {{"%t", 0, 5}},
                 .accumulates = true},
                {.inputs = {"%a: f64[3,4]", "%t: i64[3]"},
                 .node = "softmax_cross_entropy(%a, %t) : f64[]",
                 .ranges = {{"%t", 0, 4}},
                 .accumulates = true}}});

  // Backward ops: the VJPs above emit them; they have no VJP of their own.
  ops.push_back(OpDef{.name = op::SoftmaxGrad.name,
                      .summary = "y * (g - sum(g * y)) along the axis: softmax's backward op",
                      .min_operands = 2,
                      .max_operands = 2,
                      .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})}},
                      .infer = inferSoftmaxGrad,
                      .reference = softmaxGradKernel,
                      .differentiable = Differentiable::No,
                      // y is a row of probabilities.
                      .samples = {{.inputs = {"%a: f32[2,3]", "%b: f32[2,3]"},
                                   .node = "softmax_grad(%a, %b) : f32[2,3]",
                                   .ranges = {{"%a", 0, 1}},
                                   .accumulates = true},
                                  {.inputs = {"%a: f32[3,2]", "%b: f32[3,2]"},
                                   .node = "softmax_grad(%a, %b) {axis = 0} : f32[3,2]",
                                   .ranges = {{"%a", 0, 1}},
                                   .accumulates = true},
                                  {.inputs = {"%a: f64[2,4]", "%b: f64[2,4]"},
                                   .node = "softmax_grad(%a, %b) : f64[2,4]",
                                   .ranges = {{"%a", 0, 1}},
                                   .accumulates = true}}});
  ops.push_back(
      OpDef{.name = op::LayerNormGrad.name,
            .summary = "(x, [weight,] g) -> dx, dweight, dbias: layer_norm's backward op",
            .min_operands = 2,
            .max_operands = 3,
            .num_results = 3,
            .attrs = {{"axis", AttrKind::Int, Attribute(int64_t{-1})},
                      {"eps", AttrKind::Float, Attribute(1e-5)}},
            .infer = inferLayerNormGrad,
            .reference = layerNormGradKernel,
            .differentiable = Differentiable::No,
            .samples = {{.inputs = {"%a: f32[2,3]", "%w: f32[3]", "%b: f32[2,3]"},
                         .node = "layer_norm_grad(%a, %w, %b) : f32[2,3], f32[3], f32[3]",
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,4]", "%g: f32[2,4]"},
                         .node = "layer_norm_grad(%a, %g) : f32[2,4], f32[4], f32[4]",
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,2,3]", "%w: f32[2,3]", "%g: f32[2,2,3]"},
                         .node = "layer_norm_grad(%a, %w, %g) {axis = 1} : f32[2,2,3], "
                                 "f32[2,3], f32[2,3]",
                         .accumulates = true},
                        {.inputs = {"%a: f64[3,4]", "%w: f64[4]", "%g: f64[3,4]"},
                         .node = "layer_norm_grad(%a, %w, %g) {eps = 1e-06} : f64[3,4], f64[4], "
                                 "f64[4]",
                         .accumulates = true}}});
  ops.push_back(
      OpDef{.name = op::SoftmaxCrossEntropyGrad.name,
            .summary = "(logits, labels, g) -> d loss / d logits",
            .min_operands = 3,
            .max_operands = 3,
            .attrs = {{"ignore_index", AttrKind::Int, Attribute(int64_t{-100})},
                      {"label_smoothing", AttrKind::Float, Attribute(0.0)}},
            .infer = inferCrossEntropyGrad,
            .reference = crossEntropyGradKernel,
            .differentiable = Differentiable::No,
            .samples = {{.inputs = {"%a: f32[2,3]", "%i: i64[2]", "%l: f32[]"},
                         .node = "softmax_cross_entropy_grad(%a, %i, %l) : f32[2,3]",
                         .ranges = {{"%i", 0, 3}},
                         .accumulates = true},
                        {.inputs = {"%a: f32[2,3,5]", "%t: i64[2,3]", "%g: f32[]"},
                         .node = "softmax_cross_entropy_grad(%a, %t, %g) {ignore_index = 0, "
                                 "label_smoothing = 0.1} : f32[2,3,5]",
                         .ranges = {{"%t", 0, 5}},
                         .accumulates = true},
                        {.inputs = {"%a: f64[3,4]", "%t: i32[3]", "%g: f64[]"},
                         .node = "softmax_cross_entropy_grad(%a, %t, %g) : f64[3,4]",
                         .ranges = {{"%t", 0, 4}},
                         .accumulates = true}}});
}

} // namespace kiln
