#pragma once
// Neural-network modules written from primitives, as a user of the DSL would write them. They
// never emit the fused ops: the fusion passes must find softmax, layer norm and attention in
// what is written here. Parameter names and layouts follow PyTorch's nn.Transformer.

#include "frontend/tensor.h"

#include <functional>
#include <string>

namespace kiln::nn {

/// Runs `body` as module `name` (a `module`, such as "Linear") called at `loc`: the nodes it
/// builds record the module as their scope and the call site (ModuleCall), and an Error thrown
/// inside is reported at the caller's line, naming the module.
Tensor located(ModelBuilder &mb, std::string_view module, const std::string &name,
               const SrcLoc &loc, const std::function<Tensor()> &body);

/// y = x W^T + b, W stored [out, in] as PyTorch's nn.Linear.
class Linear {
public:
  Linear(ModelBuilder &mb, const std::string &name, int64_t in, int64_t out, bool bias = true);
  Tensor operator()(const Tensor &x, SrcLoc loc = SrcLoc::current()) const;
  Tensor weight, bias;

private:
  std::string name_;
};

/// Token embedding, weight [vocab, d_model]: rows looked up by id and scaled by sqrt(d_model)
/// as in the paper, or not scaled (`scale` false, as GPT's embeddings are).
class Embedding {
public:
  Embedding(ModelBuilder &mb, const std::string &name, int64_t vocab, int64_t d_model,
            bool scale = true);
  /// The rows of ids (any shape of i64): [..., d_model].
  Tensor operator()(const Tensor &ids, SrcLoc loc = SrcLoc::current()) const;
  /// The output projection tied to this embedding: logits x weight^T, [..., vocab] for x
  /// [..., d_model]. The weight is one parameter, so its gradient is the sum of both uses'.
  Tensor attend(const Tensor &x, SrcLoc loc = SrcLoc::current()) const;
  Tensor weight;

private:
  std::string name_;
  bool scale_;
};

/// Learned absolute positions (GPT's): weight [max_length, d_model], of which x [B, T, d] gets
/// rows 0 .. T-1 added. A T beyond max_length is an Error.
class PositionEmbedding {
public:
  PositionEmbedding(ModelBuilder &mb, const std::string &name, int64_t max_length, int64_t d_model);
  /// x + weight[:T] for x of shape [B, T, d_model].
  Tensor operator()(const Tensor &x, SrcLoc loc = SrcLoc::current()) const;
  /// The table, [max_length, d_model].
  Tensor weight;

private:
  std::string name_;
};

/// The sinusoidal table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...).
std::vector<double> sinusoidalTable(int64_t length, int64_t d_model);
/// x + PE[:T] for x of shape [B, T, d].
Tensor addPositionalEncoding(const Tensor &x, SrcLoc loc = SrcLoc::current());
/// x + PE[position] for x of shape [B, 1, d] and a position (i64 scalar) below `length`, read
/// from a table of `length` rows.
Tensor addPositionalEncodingAt(const Tensor &x, const Tensor &position, int64_t length,
                               SrcLoc loc = SrcLoc::current());

/// Inverted dropout with the counter-based random op; the identity when p is 0.
Tensor dropout(const Tensor &x, double p, SrcLoc loc = SrcLoc::current());

/// Layer normalisation over the last axis, mean and variance written out.
class LayerNorm {
public:
  LayerNorm(ModelBuilder &mb, const std::string &name, int64_t d_model, double eps = 1e-5);
  Tensor operator()(const Tensor &x, SrcLoc loc = SrcLoc::current()) const;
  Tensor weight, bias;

private:
  std::string name_;
  double eps_;
};

/// Softmax over the last axis written out: exp(x - max) / sum(exp(x - max)).
Tensor softmax(const Tensor &x, SrcLoc loc = SrcLoc::current());
/// log softmax over the last axis written out: (x - max) - log(sum(exp(x - max))).
Tensor logSoftmax(const Tensor &x, SrcLoc loc = SrcLoc::current());

/// Multi-head attention with PyTorch's packed in_proj_weight [3d, d] and in_proj_bias [3d].
class MultiHeadAttention {
public:
  MultiHeadAttention(ModelBuilder &mb, const std::string &name, int64_t d_model, int64_t heads,
                     double dropout);
  /// query [B, T, d] attends over memory [B, S, d]; mask is additive, broadcastable to
  /// [B, heads, T, S], or undefined for none.
  Tensor operator()(const Tensor &query, const Tensor &memory, const Tensor &mask,
                    SrcLoc loc = SrcLoc::current()) const;

  /// Which rows of the packed projection.
  enum Part { Query = 0, Key = 1, Value = 2 };
  /// x [B, T, d] projected by one part and split into heads: [B, heads, T, d / heads]. A KV
  /// cache holds keys and values in this form.
  Tensor project(const Tensor &x, Part part, SrcLoc loc = SrcLoc::current()) const;
  /// Projected queries [B, heads, T, dk] attending over keys and values [B, heads, S, dk]
  /// with an additive mask (or none); the heads merged and projected out: [B, T, d].
  Tensor attend(const Tensor &q, const Tensor &k, const Tensor &v, const Tensor &mask,
                SrcLoc loc = SrcLoc::current()) const;
  Tensor in_proj_weight, in_proj_bias;
  Linear out_proj;

private:
  std::string name_;
  int64_t d_model_, heads_;
  double dropout_;
};

/// linear2(dropout(act(linear1(x)))), ReLU or GELU.
class FeedForward {
public:
  FeedForward(ModelBuilder &mb, int64_t d_model, int64_t ffn, bool gelu, double dropout);
  Tensor operator()(const Tensor &x, SrcLoc loc = SrcLoc::current()) const;
  Linear linear1, linear2;

private:
  bool gelu_;
  double dropout_;
};

} // namespace kiln::nn
