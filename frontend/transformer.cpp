#include "frontend/transformer.h"

#include <cmath>
#include <limits>

namespace kiln {

TransformerConfig presetConfig(const std::string &name) {
  TransformerConfig c;
  c.name = name;
  if (name == "tiny") {
    c.d_model = 64, c.heads = 4, c.ffn = 256, c.encoder_layers = c.decoder_layers = 2,
    c.vocab = 1000;
  } else if (name == "small") {
    c.d_model = 256, c.heads = 4, c.ffn = 1024, c.encoder_layers = c.decoder_layers = 3,
    c.vocab = 8000;
  } else if (name == "base") {
    c.d_model = 512, c.heads = 8, c.ffn = 2048, c.encoder_layers = c.decoder_layers = 6,
    c.vocab = 30000;
  } else {
    throw Error({}, fmt::format("unknown config '{}'; known configs: tiny, small, base", name));
  }
  return c;
}

std::vector<std::string> presetNames() { return {"tiny", "small", "base"}; }

Tensor paddingMask(const Tensor &tokens, int64_t pad, SrcLoc loc) {
  ModelBuilder &mb = tokens.builder();
  Tensor is_pad = eq(tokens, full(mb, static_cast<double>(pad), {}, tokens.dtype(), loc), loc);
  Tensor additive =
      select(is_pad, full(mb, -std::numeric_limits<double>::infinity(), {}, DType::f32, loc),
             full(mb, 0.0, {}, DType::f32, loc), loc);
  return reshape(additive, {tokens.dim(0), 1, 1, tokens.dim(1)}, loc);
}

Tensor causalMask(ModelBuilder &mb, int64_t length, SrcLoc loc) {
  Tensor query = iota(mb, {length, length}, 0, DType::i64, loc);
  Tensor key = iota(mb, {length, length}, 1, DType::i64, loc);
  return select(gt(key, query, loc),
                full(mb, -std::numeric_limits<double>::infinity(), {}, DType::f32, loc),
                full(mb, 0.0, {}, DType::f32, loc), loc);
}

Tensor shiftRight(const Tensor &tgt, int64_t bos, SrcLoc loc) {
  int64_t b = tgt.dim(0), t = tgt.dim(1);
  Tensor start = full(tgt.builder(), static_cast<double>(bos), {b, 1}, tgt.dtype(), loc);
  return concat({start, slice(tgt, {0, 0}, {b, t - 1}, {}, loc)}, 1, loc);
}

Tensor crossEntropy(const Tensor &logits, const Tensor &targets, int64_t pad,
                    double label_smoothing, SrcLoc loc) {
  Tensor logp = nn::logSoftmax(logits, loc);
  Tensor per_token = neg(gather(logp, targets, 2, 2, loc), loc); // [B, T]
  if (label_smoothing > 0) {
    Tensor smooth = neg(reduceMean(logp, {-1}, false, loc), loc);
    per_token = add(mul(per_token, scalarLike(per_token, 1.0 - label_smoothing, loc), loc),
                    mul(smooth, scalarLike(smooth, label_smoothing, loc), loc), loc);
  }
  Tensor counted = cast(
      ne(targets, full(targets.builder(), static_cast<double>(pad), {}, targets.dtype(), loc), loc),
      logits.dtype(), loc);
  return div(reduceSum(mul(per_token, counted, loc), {0, 1}, false, loc),
             reduceSum(counted, {0, 1}, false, loc), loc);
}

namespace {

/// One encoder layer: self-attention and feed-forward, each with a residual and a LayerNorm.
class EncoderLayer {
public:
  EncoderLayer(ModelBuilder &mb, const TransformerConfig &c, double dropout)
      : self_attn(mb, "self_attn", c.d_model, c.heads, dropout),
        ff(mb, c.d_model, c.ffn, c.gelu, dropout), norm1(mb, "norm1", c.d_model, c.norm_eps),
        norm2(mb, "norm2", c.d_model, c.norm_eps), pre_norm(c.pre_norm), dropout(dropout) {}

  Tensor operator()(Tensor x, const Tensor &mask) const {
    if (pre_norm) {
      Tensor h = norm1(x);
      x = x + nn::dropout(self_attn(h, h, mask), dropout);
      return x + nn::dropout(ff(norm2(x)), dropout);
    }
    x = norm1(x + nn::dropout(self_attn(x, x, mask), dropout));
    return norm2(x + nn::dropout(ff(x), dropout));
  }

  nn::MultiHeadAttention self_attn;
  nn::FeedForward ff;
  nn::LayerNorm norm1, norm2;
  bool pre_norm;
  double dropout;
};

/// One decoder layer: masked self-attention, cross-attention over the memory, feed-forward.
class DecoderLayer {
public:
  DecoderLayer(ModelBuilder &mb, const TransformerConfig &c, double dropout)
      : self_attn(mb, "self_attn", c.d_model, c.heads, dropout),
        multihead_attn(mb, "multihead_attn", c.d_model, c.heads, dropout),
        ff(mb, c.d_model, c.ffn, c.gelu, dropout), norm1(mb, "norm1", c.d_model, c.norm_eps),
        norm2(mb, "norm2", c.d_model, c.norm_eps), norm3(mb, "norm3", c.d_model, c.norm_eps),
        pre_norm(c.pre_norm), dropout(dropout) {}

  Tensor operator()(Tensor x, const Tensor &memory, const Tensor &self_mask,
                    const Tensor &memory_mask) const {
    if (pre_norm) {
      Tensor h = norm1(x);
      x = x + nn::dropout(self_attn(h, h, self_mask), dropout);
      x = x + nn::dropout(multihead_attn(norm2(x), memory, memory_mask), dropout);
      return x + nn::dropout(ff(norm3(x)), dropout);
    }
    x = norm1(x + nn::dropout(self_attn(x, x, self_mask), dropout));
    x = norm2(x + nn::dropout(multihead_attn(x, memory, memory_mask), dropout));
    return norm3(x + nn::dropout(ff(x), dropout));
  }

  nn::MultiHeadAttention self_attn, multihead_attn;
  nn::FeedForward ff;
  nn::LayerNorm norm1, norm2, norm3;
  bool pre_norm;
  double dropout;
};

void checkConfig(const TransformerConfig &c, const GraphOptions &o) {
  auto positive = [](int64_t v, std::string_view what) {
    if (v <= 0)
      throw Error({}, fmt::format("{} must be positive, found {}", what, v));
  };
  positive(c.d_model, "d_model");
  positive(c.heads, "heads");
  positive(c.ffn, "ffn");
  positive(c.vocab, "vocab");
  positive(o.batch, "batch");
  positive(o.src_len, "src-len");
  positive(o.tgt_len, "tgt-len");
  if (c.encoder_layers < 0 || c.decoder_layers < 0)
    throw Error({}, "the number of layers must not be negative");
  if (c.d_model % c.heads != 0)
    throw Error({}, fmt::format("d_model {} is not divisible by {} heads", c.d_model, c.heads));
  // Sizes beyond these do not fit in memory anyway; they would only overflow counts.
  for (auto [v, what] : {std::pair{c.d_model, "d_model"},
                         {c.ffn, "ffn"},
                         {c.heads, "heads"},
                         {o.batch, "batch"},
                         {o.src_len, "src-len"},
                         {o.tgt_len, "tgt-len"},
                         {c.encoder_layers, "encoder layers"},
                         {c.decoder_layers, "decoder layers"}})
    if (v > (int64_t{1} << 20))
      throw Error({}, fmt::format("{} {} is larger than 2^20", what, v));
  if (c.vocab > (int64_t{1} << 24))
    throw Error({}, fmt::format("vocab {} is larger than 2^24", c.vocab));
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw Error({}, fmt::format("dropout must lie in [0, 1), found {}", o.dropout));
  if (!(c.label_smoothing >= 0 && c.label_smoothing <= 1))
    throw Error({}, fmt::format("label smoothing must lie in [0, 1], found {}", c.label_smoothing));
  if (c.tokens.bos == c.tokens.pad || c.tokens.eos == c.tokens.pad)
    throw Error(
        {}, fmt::format("BOS ({}) and EOS ({}) must differ from PAD ({}): padding is masked out",
                        c.tokens.bos, c.tokens.eos, c.tokens.pad));
  for (int64_t id : {c.tokens.pad, c.tokens.bos, c.tokens.eos, c.tokens.unk})
    if (id < 0 || id >= c.vocab)
      throw Error({},
                  fmt::format("special token id {} is outside the vocabulary of {}", id, c.vocab));
}

} // namespace

BuiltModel buildTransformer(const TransformerConfig &c, Stage stage, const GraphOptions &o) {
  checkConfig(c, o);
  ModelBuilder mb(c.name == "custom" ? "transformer" : "transformer_" + c.name);
  double p = o.dropout;
  Tensor src = mb.input("src", TensorType{DType::i64, {o.batch, o.src_len}}, InputRole::Source);
  Tensor tgt = mb.input("tgt", TensorType{DType::i64, {o.batch, o.tgt_len}}, InputRole::Target);

  nn::Embedding src_embed(mb, "src_embed", c.vocab, c.d_model);
  nn::Embedding tgt_embed(mb, "tgt_embed", c.vocab, c.d_model);
  std::vector<std::unique_ptr<EncoderLayer>> encoder;
  for (int64_t i = 0; i < c.encoder_layers; ++i) {
    NameScope scope(mb, fmt::format("encoder.layers.{}", i));
    encoder.push_back(std::make_unique<EncoderLayer>(mb, c, p));
  }
  nn::LayerNorm encoder_norm(mb, "encoder.norm", c.d_model, c.norm_eps);
  std::vector<std::unique_ptr<DecoderLayer>> decoder;
  for (int64_t i = 0; i < c.decoder_layers; ++i) {
    NameScope scope(mb, fmt::format("decoder.layers.{}", i));
    decoder.push_back(std::make_unique<DecoderLayer>(mb, c, p));
  }
  nn::LayerNorm decoder_norm(mb, "decoder.norm", c.d_model, c.norm_eps);
  Tensor generator_weight =
      c.tie_generator ? tgt_embed.weight
                      : mb.parameter("generator.weight", {c.vocab, c.d_model}, Init::XavierUniform);
  Tensor generator_bias = mb.parameter("generator.bias", {c.vocab}, Init::Zeros);

  // Encoder.
  Tensor src_mask = paddingMask(src, c.tokens.pad);
  Tensor x = nn::dropout(nn::addPositionalEncoding(src_embed(src)), p);
  for (const auto &layer : encoder)
    x = (*layer)(x, src_mask);
  Tensor memory = encoder_norm(x);

  // Decoder, reading the target shifted right behind BOS.
  Tensor dec_in = shiftRight(tgt, c.tokens.bos);
  Tensor self_mask = causalMask(mb, o.tgt_len) + paddingMask(dec_in, c.tokens.pad);
  Tensor y = nn::dropout(nn::addPositionalEncoding(tgt_embed(dec_in)), p);
  for (const auto &layer : decoder)
    y = (*layer)(y, memory, self_mask, src_mask);
  y = decoder_norm(y);
  Tensor logits = matmul(y, generator_weight, false, true) + generator_bias;

  if (stage == Stage::Loss)
    mb.output("loss", crossEntropy(logits, tgt, c.tokens.pad, c.label_smoothing));
  mb.output("logits", logits);
  BuiltModel out;
  out.params = mb.parameters();
  out.graph = mb.finish();
  return out;
}

} // namespace kiln
