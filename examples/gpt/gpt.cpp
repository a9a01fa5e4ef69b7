#include "gpt.h"

#include <memory>
#include <string>
#include <vector>

namespace gpt {

namespace {

using kiln::Tensor;

/// A pre-norm block: x + attn(norm1(x)), then + ff(norm2(x)).
class Block {
public:
  Block(kiln::ModelBuilder &mb, const Config &c)
      : norm1(mb, "norm1", c.width), self_attn(mb, "self_attn", c.width, c.heads, 0.0),
        norm2(mb, "norm2", c.width), ff(mb, c.width, 4 * c.width, /*gelu=*/true, 0.0) {}

  Tensor operator()(Tensor x, const Tensor &causal) const {
    Tensor h = norm1(x);
    x = x + self_attn(h, h, causal);
    return x + ff(norm2(x));
  }

  kiln::nn::LayerNorm norm1;
  kiln::nn::MultiHeadAttention self_attn;
  kiln::nn::LayerNorm norm2;
  kiln::nn::FeedForward ff;
};

/// Every module, declared in the order of the parameters.
class Gpt {
public:
  Gpt(kiln::ModelBuilder &mb, const Config &c)
      : tok_embed(mb, "tok_embed", c.vocab, c.width, /*scale=*/false),
        pos_embed(mb, "pos_embed", c.length, c.width), norm(mb, "norm", c.width) {
    for (int64_t i = 0; i < c.layers; ++i) {
      kiln::NameScope scope(mb, "blocks." + std::to_string(i));
      blocks.push_back(std::make_unique<Block>(mb, c));
    }
  }

  /// Logits [B, T, vocab] of ids [B, T]: position t sees positions 0 .. t only.
  Tensor logits(const Tensor &ids) const {
    Tensor x = pos_embed(tok_embed(ids));
    Tensor causal = kiln::causalMask(ids.builder(), ids.dim(1));
    for (const auto &block : blocks)
      x = (*block)(x, causal);
    return tok_embed.attend(norm(x)); // tied: the embedding's own weight, transposed
  }

  kiln::nn::Embedding tok_embed;
  kiln::nn::PositionEmbedding pos_embed;
  std::vector<std::unique_ptr<Block>> blocks;
  kiln::nn::LayerNorm norm;
};

/// Checks sizes a user may get wrong on the command line.
void checkConfig(const Config &c) {
  if (c.vocab <= 0 || c.length <= 0 || c.width <= 0 || c.heads <= 0 || c.layers < 0)
    throw kiln::Error({}, "vocab, length, width and heads must be positive and layers not "
                          "negative");
  if (c.width % c.heads != 0)
    throw kiln::Error({}, fmt::format("width {} is not divisible by {} heads", c.width, c.heads));
}

} // namespace

kiln::BuiltModel buildLoss(const Config &cfg, int64_t batch) {
  checkConfig(cfg);
  kiln::ModelBuilder mb("gpt");
  kiln::TensorType windows{kiln::DType::i64, {batch, cfg.length}};
  Tensor input = mb.input("input", windows);
  Tensor target = mb.input("target", windows);
  Gpt model(mb, cfg);
  Tensor logp = kiln::nn::logSoftmax(model.logits(input));
  Tensor nll = kiln::neg(kiln::gather(logp, target, /*axis=*/2, /*batch_dims=*/2));
  mb.output("loss", kiln::reduceMean(nll, {0, 1}));
  std::unique_ptr<kiln::Graph> graph = mb.finish();
  return {std::move(graph), mb.parameters()};
}

kiln::BuiltModel buildLogits(const Config &cfg) {
  checkConfig(cfg);
  kiln::ModelBuilder mb("gpt_logits");
  Tensor input = mb.input("input", kiln::TensorType{kiln::DType::i64, {1, cfg.length}});
  Gpt model(mb, cfg);
  mb.output("logits", model.logits(input));
  std::unique_ptr<kiln::Graph> graph = mb.finish();
  return {std::move(graph), mb.parameters()};
}

} // namespace gpt
