// Scaled dot-product attention and its backward op.
//
//   attention(q, k, v, [mask], [seed]) = dropout(softmax(q k^T * scale + mask)) v
//
// q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]. A float mask is added to the scores; a bool
// mask is true where attending is not allowed (PyTorch's convention); causal hides keys after
// the query. With dropout p > 0 the last operand is a seed (an i32[2] Philox key), and
// probability (i, j) of batch b is kept when the random_uniform number at counter
// dropout_offset + (b * Tq + i) * Tk + j is >= p, then scaled by 1 / (1 - p): exactly the
// numbers random_uniform gives the DSL's dropout over the [..., Tq, Tk] probabilities. As the
// written-out dropout compares with constants of the tensors' dtype, p and 1 / (1 - p) are
// rounded to the dtype the kernel computes in.

#include "ir/attention.h"
#include "ir/ops/ops.h"
#include "ir/philox.h"

#include <cmath>

namespace kiln {
namespace {

std::vector<TensorType> inferAttentionOperands(const InferContext &ctx,
                                               std::span<const TensorType> operands) {
  const TensorType &q = operands[0], &k = operands[1], &v = operands[2];
  for (int i = 0; i < 3; ++i)
    if (!isFloat(operands[i].dtype))
      ctx.error("operand {} must be a floating-point tensor, found {}", i, operands[i].str());
  if (q.rank() < 2 || k.rank() != q.rank() || v.rank() != q.rank())
    ctx.error("q, k and v must share a rank of 2 or more, found {}, {} and {}", q.str(), k.str(),
              v.str());
  if (k.dtype != q.dtype || v.dtype != q.dtype)
    ctx.error("q, k and v must share a dtype, found {}, {} and {}", q.str(), k.str(), v.str());
  int64_t r = q.rank();
  Shape batch(q.shape.begin(), q.shape.end() - 2);
  if (Shape(k.shape.begin(), k.shape.end() - 2) != batch ||
      Shape(v.shape.begin(), v.shape.end() - 2) != batch)
    ctx.error("batch dimensions differ: q {}, k {}, v {}", shapeStr(q.shape), shapeStr(k.shape),
              shapeStr(v.shape));
  if (q.shape[r - 1] != k.shape[r - 1])
    ctx.error("q and k head sizes differ: {} and {}", shapeStr(q.shape), shapeStr(k.shape));
  if (k.shape[r - 2] != v.shape[r - 2])
    ctx.error("k and v lengths differ: {} and {}", shapeStr(k.shape), shapeStr(v.shape));
  double dropout = ctx.getFloat("dropout");
  if (dropout < 0 || dropout >= 1)
    ctx.error("dropout must lie in [0, 1), found {}", dropout);
  if (ctx.getInt("dropout_offset") < 0)
    ctx.error("dropout_offset must be non-negative, found {}", ctx.getInt("dropout_offset"));
  size_t most = dropout > 0 ? 5 : 4;
  if (operands.size() > most || (dropout > 0 && operands.size() < 4))
    ctx.error("{} operands with dropout {}: expected q, k, v, an optional mask{}", operands.size(),
              dropout, dropout > 0 ? " and the seed" : "");
  AttentionOperands roles = attentionOperands(operands.size(), dropout);
  Shape scores = batch;
  scores.push_back(q.shape[r - 2]);
  scores.push_back(k.shape[r - 2]);
  if (roles.mask >= 0) {
    const TensorType &mask = operands[roles.mask];
    if (mask.dtype != DType::boolean && mask.dtype != q.dtype)
      ctx.error("mask must be bool or {}, found {}", dtypeName(q.dtype), mask.str());
    auto b = broadcastShapes(mask.shape, scores);
    if (!b || *b != scores)
      ctx.error("mask {} does not broadcast to the scores {}", shapeStr(mask.shape),
                shapeStr(scores));
  }
  if (roles.seed >= 0)
    ops::requireKey(ctx, roles.seed, "the dropout seed");
  Shape out = batch;
  out.push_back(q.shape[r - 2]);
  out.push_back(v.shape[r - 1]);
  return {TensorType{q.dtype, out}};
}

std::vector<TensorType> inferAttention(const InferContext &ctx) {
  return inferAttentionOperands(ctx, ctx.operands);
}

/// Operands of attention plus the cotangent; results dq, dk, dv.
std::vector<TensorType> inferAttentionGrad(const InferContext &ctx) {
  TensorType out = inferAttentionOperands(ctx, ctx.operands.first(ctx.operands.size() - 1))[0];
  if (ctx.operands.back() != out)
    ctx.error("the cotangent must be {}, found {}", out.str(), ctx.operands.back().str());
  return {ctx.operands[0], ctx.operands[1], ctx.operands[2]};
}

/// Recomputes the rows of attention probabilities for the forward and the backward kernel.
class Rows {
public:
  Rows(const Node &n, std::span<const Literal *const> in)
      : q(*in[0]), k(*in[1]), v(*in[2]), scale_(n.getFloat("scale")), causal_(n.getBool("causal")),
        dropout_(n.getFloat("dropout")),
        offset_(static_cast<uint64_t>(n.getInt("dropout_offset"))) {
    AttentionOperands roles = attentionOperands(in.size(), dropout_);
    int64_t r = q.type.rank();
    tq = q.shape()[r - 2], tk = k.shape()[r - 2], d = q.shape()[r - 1], dv = v.shape()[r - 1];
    batches = numElements(Shape(q.shape().begin(), q.shape().end() - 2));
    if (roles.mask >= 0) {
      mask_ = in[roles.mask];
      Shape scores(q.shape().begin(), q.shape().end() - 2);
      scores.push_back(tq);
      scores.push_back(tk);
      mask_index_ = ops::broadcastIndex(mask_->shape(), scores);
    }
    if (roles.seed >= 0)
      key_ = ops::keyOf(*in[roles.seed]);
    threshold_ = roundTo(dropout_, q.type.dtype);
    keep_scale_ = roundTo(1.0 / (1.0 - dropout_), q.type.dtype);
  }

  /// Softmax probabilities p of row (b, i), and the factor dropout applies to each: 0, or
  /// 1 / (1 - dropout) (1 everywhere without dropout).
  void row(int64_t b, int64_t i, std::vector<double> &p, std::vector<double> &factor) const {
    for (int64_t j = 0; j < tk; ++j) {
      double s = 0;
      for (int64_t c = 0; c < d; ++c)
        s += q.data[(b * tq + i) * d + c] * k.data[(b * tk + j) * d + c];
      s *= scale_;
      if (mask_ && !boolMask())
        s += mask_->data[mask_index_[(b * tq + i) * tk + j]];
      p[j] = hides(b, i, j) ? -INFINITY : s;
    }
    ops::softmaxRows(p, tk);
    for (int64_t j = 0; j < tk; ++j) {
      uint64_t counter = offset_ + static_cast<uint64_t>((b * tq + i) * tk + j);
      factor[j] = dropout_ <= 0                                ? 1.0
                  : philoxUniform(key_, counter) >= threshold_ ? keep_scale_
                                                               : 0.0;
    }
  }
  double scale() const { return scale_; }

  /// Whether a bool mask or causal hides key j from row (b, i). The score there is a constant
  /// -inf, so it gets no gradient, as the written select's gradient is 0 there: in a row hidden
  /// wholly, whose probabilities are NaN, too.
  bool hides(int64_t b, int64_t i, int64_t j) const {
    if (causal_ && j > i)
      return true;
    return boolMask() && mask_->data[mask_index_[(b * tq + i) * tk + j]] != 0;
  }

  const Literal &q, &k, &v;
  int64_t tq = 0, tk = 0, d = 0, dv = 0, batches = 0;

private:
  double scale_;
  bool causal_;
  double dropout_, threshold_ = 0, keep_scale_ = 1;
  uint64_t offset_;
  const Literal *mask_ = nullptr;
  std::vector<int64_t> mask_index_;
  PhiloxKey key_{};

  bool boolMask() const { return mask_ && mask_->type.dtype == DType::boolean; }
};

std::vector<Literal> attentionKernel(const Node &n, std::span<const Literal *const> in) {
  Rows rows(n, in);
  Literal out(ops::resultType(n));
  std::vector<double> p(rows.tk), factor(rows.tk);
  for (int64_t b = 0; b < rows.batches; ++b)
    for (int64_t i = 0; i < rows.tq; ++i) {
      rows.row(b, i, p, factor);
      for (int64_t c = 0; c < rows.dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < rows.tk; ++j)
          acc += p[j] * factor[j] * rows.v.data[(b * rows.tk + j) * rows.dv + c];
        out.data[(b * rows.tq + i) * rows.dv + c] = acc;
      }
    }
  return {out};
}

/// dv = kept^T g; d kept = g v^T; dp = d kept * keep / (1 - p); ds = p (dp - sum(dp p)) * scale,
/// and 0 where the key is hidden.
std::vector<Literal> attentionGradKernel(const Node &n, std::span<const Literal *const> in) {
  const Literal &g = *in.back();
  Rows rows(n, in.first(in.size() - 1));
  Literal dq(ops::resultType(n, 0)), dk(ops::resultType(n, 1)), dv(ops::resultType(n, 2));
  int64_t tq = rows.tq, tk = rows.tk, d = rows.d, dvn = rows.dv;
  std::vector<double> p(tk), factor(tk), dp(tk);
  for (int64_t b = 0; b < rows.batches; ++b)
    for (int64_t i = 0; i < tq; ++i) {
      rows.row(b, i, p, factor);
      const double *go = g.data.data() + (b * tq + i) * dvn;
      double dot = 0;
      for (int64_t j = 0; j < tk; ++j) {
        double dkept = 0;
        for (int64_t c = 0; c < dvn; ++c) {
          dkept += go[c] * rows.v.data[(b * tk + j) * dvn + c];
          dv.data[(b * tk + j) * dvn + c] += p[j] * factor[j] * go[c];
        }
        dp[j] = dkept * factor[j];
        dot += dp[j] * p[j];
      }
      for (int64_t j = 0; j < tk; ++j) {
        double ds = rows.hides(b, i, j) ? 0 : p[j] * (dp[j] - dot) * rows.scale();
        if (ds == 0)
          continue;
        for (int64_t c = 0; c < d; ++c) {
          dq.data[(b * tq + i) * d + c] += ds * rows.k.data[(b * tk + j) * d + c];
          dk.data[(b * tk + j) * d + c] += ds * rows.q.data[(b * tq + i) * d + c];
        }
      }
    }
  return {dq, dk, dv};
}

/// The mask and the seed get no gradient: masks are built from token ids and constants.
std::vector<Value *> attentionVjp(Builder &b, const Node &n, std::span<Value *const> g) {
  std::vector<Value *> operands(n.operands.begin(), n.operands.end());
  operands.push_back(g[0]);
  Node *grad = b.createNode(op::AttentionGrad, operands, n.attrs);
  std::vector<Value *> out = {grad->result(0), grad->result(1), grad->result(2)};
  out.resize(n.operands.size(), nullptr);
  return out;
}

const std::vector<AttrSpec> kAttrs = {{"causal", AttrKind::Bool, Attribute(false)},
                                      {"dropout", AttrKind::Float, Attribute(0.0)},
                                      {"dropout_offset", AttrKind::Int, Attribute(int64_t{0})},
                                      {"scale", AttrKind::Float}};

} // namespace

AttentionOperands attentionOperands(size_t operands, double dropout) {
  AttentionOperands r;
  size_t extra = operands - 3;
  if (dropout > 0) {
    r.seed = static_cast<int>(operands) - 1;
    if (extra == 2)
      r.mask = 3;
  } else if (extra == 1) {
    r.mask = 3;
  }
  return r;
}

void addAttentionOps(std::vector<OpDef> &ops) {
  ops.push_back(
      OpDef{.name = op::Attention.name,
            .summary = "dropout(softmax(q k^T * scale + mask)) v; a bool mask is true where "
                       "attending is not allowed (PyTorch's convention); causal hides keys "
                       "after the query; with dropout the last operand is the seed",
            .min_operands = 3,
            .max_operands = 5,
            .attrs = kAttrs,
            .infer = inferAttention,
            .reference = attentionKernel,
            .differentiable = Differentiable::Yes,
            .vjp = attentionVjp,
            // An additive mask; a bool mask with causal (key 0 stays visible, so no
            // row is fully masked); a padding mask broadcast over heads and queries;
            // dropout with more keys than queries.
            .samples = {
                {.inputs = {"%a: f32[2,3]", "%b: f32[2,3]", "%b2: f32[2,2]"},
                 .node = "attention(%a, %b, %b, %b2) {scale = 0.5} : f32[2,3]",
                 .accumulates = true},
                {.inputs = {"%q: f32[2,3,4]", "%k: f32[2,3,4]", "%v: f32[2,3,4]", "%m: bool[3,3]"},
                 .node = "attention(%q, %k, %v, %m) {causal = true, scale = 0.7} : "
                         "f32[2,3,4]",
                 .ranges = {{"%m", 0, 1, {0, 1, 0, 0, 0, 1, 0, 1, 0}}},
                 .accumulates = true},
                {.inputs = {"%q: f32[2,2,3,4]", "%k: f32[2,2,5,4]", "%v: f32[2,2,5,3]",
                            "%m: f32[2,1,1,5]"},
                 .node = "attention(%q, %k, %v, %m) {scale = 0.5} : f32[2,2,3,3]",
                 .ranges = {{"%m", -4, 0}},
                 .accumulates = true},
                {.inputs = {"%q: f32[2,3,4]", "%k: f32[2,5,4]", "%v: f32[2,5,2]", "%s: i32[2]"},
                 .node = "attention(%q, %k, %v, %s) {dropout = 0.3, dropout_offset = 5, "
                         "scale = 0.5} : f32[2,3,2]",
                 .ranges = {{"%s", -2147483648.0, 2147483648.0}},
                 .accumulates = true}}});
  ops.push_back(
      OpDef{.name = op::AttentionGrad.name,
            .summary = "(q, k, v, [mask,] [seed,] g) -> dq, dk, dv: attention's backward op, "
                       "recomputing the probabilities",
            .min_operands = 4,
            .max_operands = 6,
            .num_results = 3,
            .attrs = kAttrs,
            .infer = inferAttentionGrad,
            .reference = attentionGradKernel,
            .differentiable = Differentiable::No,
            // attention's samples with a cotangent.
            .samples = {{.inputs = {"%a: f32[2,3]", "%b: f32[2,3]", "%b2: f32[2,2]"},
                         .node = "attention_grad(%a, %b, %b, %b2, %a) {causal = true, scale = "
                                 "0.5} : f32[2,3], f32[2,3], f32[2,3]",
                         .accumulates = true},
                        {.inputs = {"%q: f32[2,3,4]", "%k: f32[2,3,4]", "%v: f32[2,3,4]",
                                    "%m: bool[3,3]", "%g: f32[2,3,4]"},
                         .node = "attention_grad(%q, %k, %v, %m, %g) {causal = true, scale = "
                                 "0.7} : f32[2,3,4], f32[2,3,4], f32[2,3,4]",
                         .ranges = {{"%m", 0, 1, {0, 1, 0, 0, 0, 1, 0, 1, 0}}},
                         .accumulates = true},
                        {.inputs = {"%q: f32[2,2,3,4]", "%k: f32[2,2,5,4]", "%v: f32[2,2,5,3]",
                                    "%m: f32[2,1,1,5]", "%g: f32[2,2,3,3]"},
                         .node = "attention_grad(%q, %k, %v, %m, %g) {scale = 0.5} : "
                                 "f32[2,2,3,4], f32[2,2,5,4], f32[2,2,5,3]",
                         .ranges = {{"%m", -4, 0}},
                         .accumulates = true},
                        {.inputs = {"%q: f32[2,3,4]", "%k: f32[2,5,4]", "%v: f32[2,5,2]",
                                    "%s: i32[2]", "%g: f32[2,3,2]"},
                         .node = "attention_grad(%q, %k, %v, %s, %g) {dropout = 0.3, "
                                 "dropout_offset = 5, scale = 0.5} : f32[2,3,4], f32[2,5,4], "
                                 "f32[2,5,2]",
                         .ranges = {{"%s", -2147483648.0, 2147483648.0}},
                         .accumulates = true}}});
}

} // namespace kiln
