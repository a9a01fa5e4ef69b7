#include "frontend/nn.h"

#include <cmath>

namespace kiln::nn {

Tensor located(ModelBuilder &mb, std::string_view module, const std::string &name,
               const SrcLoc &loc, const std::function<Tensor()> &body) {
  ModuleCall call(mb, name, loc);
  try {
    return body();
  } catch (const Error &e) {
    throw Error(Location::fromSource(loc), fmt::format("{} '{}': {}", module, name, e.message()));
  }
}

Linear::Linear(ModelBuilder &mb, const std::string &name, int64_t in, int64_t out, bool has_bias)
    : name_(mb.scoped(name)) {
  NameScope scope(mb, name);
  weight = mb.parameter("weight", {out, in}, Init::XavierUniform);
  if (has_bias)
    bias = mb.parameter("bias", {out}, Init::Zeros);
}

Tensor Linear::operator()(const Tensor &x, SrcLoc loc) const {
  return located(weight.builder(), "Linear", name_, loc, [&] {
    Tensor y = matmul(x, weight, false, true);
    return bias.defined() ? y + bias : y;
  });
}

Embedding::Embedding(ModelBuilder &mb, const std::string &name, int64_t vocab, int64_t d_model,
                     bool scale)
    : name_(mb.scoped(name)), scale_(scale) {
  NameScope scope(mb, name);
  weight = mb.parameter("weight", {vocab, d_model}, Init::XavierUniform);
}

Tensor Embedding::operator()(const Tensor &ids, SrcLoc loc) const {
  return located(weight.builder(), "Embedding", name_, loc, [&] {
    Tensor rows = gather(weight, ids);
    return scale_ ? rows * std::sqrt(static_cast<double>(weight.dim(1))) : rows;
  });
}

Tensor Embedding::attend(const Tensor &x, SrcLoc loc) const {
  return located(weight.builder(), "Embedding", name_, loc, [&] {
    if (x.rank() < 1 || x.dim(-1) != weight.dim(1))
      throw Error({}, fmt::format("attend: the input's last axis must be d_model {}, found {}",
                                  weight.dim(1), x.type().str()));
    return matmul(x, weight, false, true);
  });
}

PositionEmbedding::PositionEmbedding(ModelBuilder &mb, const std::string &name, int64_t max_length,
                                     int64_t d_model)
    : name_(mb.scoped(name)) {
  NameScope scope(mb, name);
  weight = mb.parameter("weight", {max_length, d_model}, Init::XavierUniform);
}

Tensor PositionEmbedding::operator()(const Tensor &x, SrcLoc loc) const {
  return located(weight.builder(), "PositionEmbedding", name_, loc, [&] {
    int64_t d = weight.dim(1);
    if (x.rank() != 3 || x.dim(2) != d)
      throw Error({}, fmt::format("the input must be [B, T, {}], found {}", d, x.type().str()));
    int64_t t = x.dim(1);
    if (t > weight.dim(0))
      throw Error({}, fmt::format("{} positions exceed the table's {}", t, weight.dim(0)));
    return x + slice(weight, {0, 0}, {t, d});
  });
}

std::vector<double> sinusoidalTable(int64_t length, int64_t d_model) {
  std::vector<double> table(length * d_model);
  for (int64_t pos = 0; pos < length; ++pos)
    for (int64_t i = 0; i < d_model; i += 2) {
      double angle = static_cast<double>(pos) /
                     std::pow(10000.0, static_cast<double>(i) / static_cast<double>(d_model));
      table[pos * d_model + i] = std::sin(angle);
      if (i + 1 < d_model)
        table[pos * d_model + i + 1] = std::cos(angle);
    }
  return table;
}

Tensor addPositionalEncoding(const Tensor &x, SrcLoc loc) {
  int64_t t = x.dim(-2), d = x.dim(-1);
  return add(x, constant(x.builder(), sinusoidalTable(t, d), {t, d}, x.dtype(), loc), loc);
}

Tensor addPositionalEncodingAt(const Tensor &x, const Tensor &position, int64_t length,
                               SrcLoc loc) {
  int64_t d = x.dim(-1);
  Tensor table = constant(x.builder(), sinusoidalTable(length, d), {length, d}, x.dtype(), loc);
  Tensor zero = full(x.builder(), 0, {}, position.dtype(), loc);
  return add(x, dynamicSlice(table, {position, zero}, {1, d}, loc), loc);
}

Tensor dropout(const Tensor &x, double p, SrcLoc loc) {
  if (p <= 0)
    return x;
  Tensor keep = ge(randomUniform(x.builder(), x.shape(), loc), scalarLike(x, p, loc), loc);
  return select(keep, mul(x, scalarLike(x, 1.0 / (1.0 - p), loc), loc), scalarLike(x, 0.0, loc),
                loc);
}

LayerNorm::LayerNorm(ModelBuilder &mb, const std::string &name, int64_t d_model, double eps)
    : name_(mb.scoped(name)), eps_(eps) {
  NameScope scope(mb, name);
  weight = mb.parameter("weight", {d_model}, Init::Ones);
  bias = mb.parameter("bias", {d_model}, Init::Zeros);
}

Tensor LayerNorm::operator()(const Tensor &x, SrcLoc loc) const {
  return located(weight.builder(), "LayerNorm", name_, loc, [&] {
    Tensor mean = reduceMean(x, {-1}, true);
    Tensor centered = x - mean;
    Tensor var = reduceMean(centered * centered, {-1}, true);
    Tensor normalized = centered * rsqrt(var + eps_);
    return normalized * weight + bias;
  });
}

Tensor softmax(const Tensor &x, SrcLoc loc) {
  Tensor shifted = sub(x, reduceMax(x, {-1}, true, loc), loc);
  Tensor e = exp(shifted, loc);
  return div(e, reduceSum(e, {-1}, true, loc), loc);
}

Tensor logSoftmax(const Tensor &x, SrcLoc loc) {
  Tensor shifted = sub(x, reduceMax(x, {-1}, true, loc), loc);
  return sub(shifted, log(reduceSum(exp(shifted, loc), {-1}, true, loc), loc), loc);
}

MultiHeadAttention::MultiHeadAttention(ModelBuilder &mb, const std::string &name, int64_t d_model,
                                       int64_t heads, double dropout)
    : in_proj_weight(
          mb.parameter(name + ".in_proj_weight", {3 * d_model, d_model}, Init::XavierUniform)),
      in_proj_bias(mb.parameter(name + ".in_proj_bias", {3 * d_model}, Init::Zeros)),
      out_proj(mb, name + ".out_proj", d_model, d_model), name_(mb.scoped(name)), d_model_(d_model),
      heads_(heads), dropout_(dropout) {
  if (heads <= 0 || d_model % heads != 0)
    throw Error({}, fmt::format("MultiHeadAttention '{}': d_model {} is not divisible by {} heads",
                                name_, d_model, heads));
}

Tensor MultiHeadAttention::project(const Tensor &x, Part part, SrcLoc loc) const {
  return located(in_proj_weight.builder(), "MultiHeadAttention", name_, loc, [&] {
    int64_t d = d_model_, h = heads_, i = part;
    // Rows [i*d, (i+1)*d) of the packed projection.
    Tensor w = slice(in_proj_weight, {i * d, 0}, {(i + 1) * d, d});
    Tensor bias = slice(in_proj_bias, {i * d}, {(i + 1) * d});
    Tensor y = matmul(x, w, false, true) + bias;
    return transpose(reshape(y, {x.dim(0), x.dim(1), h, d / h}), {0, 2, 1, 3});
  });
}

Tensor MultiHeadAttention::attend(const Tensor &q, const Tensor &k, const Tensor &v,
                                  const Tensor &mask, SrcLoc loc) const {
  return located(in_proj_weight.builder(), "MultiHeadAttention", name_, loc, [&] {
    int64_t b = q.dim(0), t = q.dim(2), dk = d_model_ / heads_;
    Tensor scores = matmul(q, transpose(k, {0, 1, 3, 2})) / std::sqrt(static_cast<double>(dk));
    if (mask.defined())
      scores = scores + mask;
    Tensor probs = dropout(softmax(scores), dropout_);
    Tensor heads = matmul(probs, v);                                           // [B, H, T, dk]
    Tensor merged = reshape(transpose(heads, {0, 2, 1, 3}), {b, t, d_model_}); // [B, T, d]
    return out_proj(merged);
  });
}

Tensor MultiHeadAttention::operator()(const Tensor &query, const Tensor &memory, const Tensor &mask,
                                      SrcLoc loc) const {
  return attend(project(query, Query, loc), project(memory, Key, loc), project(memory, Value, loc),
                mask, loc);
}

FeedForward::FeedForward(ModelBuilder &mb, int64_t d_model, int64_t ffn, bool gelu, double dropout)
    : linear1(mb, "linear1", d_model, ffn), linear2(mb, "linear2", ffn, d_model), gelu_(gelu),
      dropout_(dropout) {}

Tensor FeedForward::operator()(const Tensor &x, SrcLoc loc) const {
  Tensor h = linear1(x, loc);
  h = gelu_ ? gelu(h, false, loc) : relu(h, loc);
  return linear2(dropout(h, dropout_, loc), loc);
}

} // namespace kiln::nn
