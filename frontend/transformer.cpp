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

/// What a decode step keeps of one decoder layer: the keys and values of the positions so far
/// (self-attention) and of the source (cross-attention), each [B, heads, length, dk].
struct LayerCache {
  Tensor self_keys, self_values, cross_keys, cross_values;
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

  /// The whole target at once (training, and decoding without a cache).
  Tensor operator()(const Tensor &x, const Tensor &memory, const Tensor &self_mask,
                    const Tensor &memory_mask) const {
    return apply(
        x, [&](const Tensor &h) { return self_attn(h, h, self_mask); },
        [&](const Tensor &h) { return multihead_attn(h, memory, memory_mask); });
  }

  /// One position x [B, 1, d]: its keys and values go into the cache at `position`, and it
  /// attends over the cache (self_mask hides the positions after it) and the source.
  Tensor step(const Tensor &x, LayerCache &cache, const Tensor &position, const Tensor &self_mask,
              const Tensor &memory_mask) const {
    using Part = nn::MultiHeadAttention::Part;
    Tensor zero = full(x.builder(), 0, {}, position.dtype());
    std::vector<Tensor> at = {zero, zero, position, zero};
    auto self = [&](const Tensor &h) {
      cache.self_keys = dynamicUpdateSlice(cache.self_keys, self_attn.project(h, Part::Key), at);
      cache.self_values =
          dynamicUpdateSlice(cache.self_values, self_attn.project(h, Part::Value), at);
      return self_attn.attend(self_attn.project(h, Part::Query), cache.self_keys, cache.self_values,
                              self_mask);
    };
    auto cross = [&](const Tensor &h) {
      return multihead_attn.attend(multihead_attn.project(h, Part::Query), cache.cross_keys,
                                   cache.cross_values, memory_mask);
    };
    return apply(x, self, cross);
  }

  nn::MultiHeadAttention self_attn, multihead_attn;
  nn::FeedForward ff;
  nn::LayerNorm norm1, norm2, norm3;
  bool pre_norm;
  double dropout;

private:
  /// The layer around its two attentions, post-norm or pre-norm.
  template <typename Self, typename Cross>
  Tensor apply(Tensor x, const Self &self, const Cross &cross) const {
    if (pre_norm) {
      x = x + nn::dropout(self(norm1(x)), dropout);
      x = x + nn::dropout(cross(norm2(x)), dropout);
      return x + nn::dropout(ff(norm3(x)), dropout);
    }
    x = norm1(x + nn::dropout(self(x), dropout));
    x = norm2(x + nn::dropout(cross(x), dropout));
    return norm3(x + nn::dropout(ff(x), dropout));
  }
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

/// `count` layers named prefix.0, prefix.1, ...
template <typename Layer>
std::vector<std::unique_ptr<Layer>> declareLayers(ModelBuilder &mb, const TransformerConfig &c,
                                                  double p, std::string_view prefix,
                                                  int64_t count) {
  std::vector<std::unique_ptr<Layer>> layers;
  for (int64_t i = 0; i < count; ++i) {
    NameScope scope(mb, fmt::format("{}.{}", prefix, i));
    layers.push_back(std::make_unique<Layer>(mb, c, p));
  }
  return layers;
}

/// Every module of the model, declared in the order of nn.Transformer's state_dict.
struct Modules {
  Modules(ModelBuilder &mb, const TransformerConfig &c, double p)
      : src_embed(mb, "src_embed", c.vocab, c.d_model),
        tgt_embed(mb, "tgt_embed", c.vocab, c.d_model),
        encoder(declareLayers<EncoderLayer>(mb, c, p, "encoder.layers", c.encoder_layers)),
        encoder_norm(mb, "encoder.norm", c.d_model, c.norm_eps),
        decoder(declareLayers<DecoderLayer>(mb, c, p, "decoder.layers", c.decoder_layers)),
        decoder_norm(mb, "decoder.norm", c.d_model, c.norm_eps),
        generator_weight(c.tie_generator ? tgt_embed.weight
                                         : mb.parameter("generator.weight", {c.vocab, c.d_model},
                                                        Init::XavierUniform)),
        generator_bias(mb.parameter("generator.bias", {c.vocab}, Init::Zeros)), dropout(p) {}

  /// The encoder's output for src under its padding mask.
  Tensor encode(const Tensor &src, const Tensor &src_mask) const {
    Tensor x = nn::dropout(nn::addPositionalEncoding(src_embed(src)), dropout);
    for (const auto &layer : encoder)
      x = (*layer)(x, src_mask);
    return encoder_norm(x);
  }

  /// The logits of the decoder's last hidden states.
  Tensor logits(const Tensor &y) const {
    return matmul(decoder_norm(y), generator_weight, false, true) + generator_bias;
  }

  nn::Embedding src_embed, tgt_embed;
  std::vector<std::unique_ptr<EncoderLayer>> encoder;
  nn::LayerNorm encoder_norm;
  std::vector<std::unique_ptr<DecoderLayer>> decoder;
  nn::LayerNorm decoder_norm;
  Tensor generator_weight, generator_bias;
  double dropout;
};

/// The names of layer L's cached keys or values in the decoding programs.
std::string cacheName(int64_t layer, std::string_view attention, std::string_view part) {
  return fmt::format("decoder.layers.{}.{}.{}", layer, attention, part);
}

/// Training's graph, and decoding without a cache: the whole target at once.
void recordTraining(ModelBuilder &mb, const TransformerConfig &c, Stage stage,
                    const GraphOptions &o) {
  Tensor src = mb.input("src", TensorType{DType::i64, {o.batch, o.src_len}}, InputRole::Source);
  Tensor tgt = mb.input("tgt", TensorType{DType::i64, {o.batch, o.tgt_len}}, InputRole::Target);
  Modules m(mb, c, o.dropout);
  Tensor src_mask = paddingMask(src, c.tokens.pad);
  Tensor memory = m.encode(src, src_mask);

  // Decoder, reading the target shifted right behind BOS.
  Tensor dec_in = shiftRight(tgt, c.tokens.bos);
  Tensor self_mask = causalMask(mb, o.tgt_len) + paddingMask(dec_in, c.tokens.pad);
  Tensor y = nn::dropout(nn::addPositionalEncoding(m.tgt_embed(dec_in)), m.dropout);
  for (const auto &layer : m.decoder)
    y = (*layer)(y, memory, self_mask, src_mask);
  Tensor logits = m.logits(y);

  if (stage == Stage::Loss)
    mb.output("loss", crossEntropy(logits, tgt, c.tokens.pad, c.label_smoothing));
  mb.output("logits", logits);
}

/// The encoder program: the source's mask and every layer's cross-attention keys and values.
void recordEncoder(ModelBuilder &mb, const TransformerConfig &c, const GraphOptions &o) {
  Tensor src = mb.input("src", TensorType{DType::i64, {o.batch, o.src_len}}, InputRole::Source);
  Modules m(mb, c, 0);
  Tensor src_mask = paddingMask(src, c.tokens.pad);
  Tensor memory = m.encode(src, src_mask);
  mb.output("memory_mask", src_mask);
  for (size_t i = 0; i < m.decoder.size(); ++i) {
    const nn::MultiHeadAttention &cross = m.decoder[i]->multihead_attn;
    auto layer = static_cast<int64_t>(i);
    mb.output(cacheName(layer, "multihead_attn", "keys"),
              cross.project(memory, nn::MultiHeadAttention::Key));
    mb.output(cacheName(layer, "multihead_attn", "values"),
              cross.project(memory, nn::MultiHeadAttention::Value));
  }
}

/// The decode step: one position of every row through the decoder, with the KV cache.
void recordDecodeStep(ModelBuilder &mb, const TransformerConfig &c, const GraphOptions &o) {
  int64_t b = o.batch, capacity = o.tgt_len, dk = c.d_model / c.heads;
  Tensor token = mb.input("token", TensorType{DType::i64, {b}});
  Tensor position = mb.input("position", TensorType{DType::i64, {}});
  Tensor memory_mask = mb.input("memory_mask", TensorType{DType::f32, {b, 1, 1, o.src_len}});
  std::vector<LayerCache> caches(c.decoder_layers);
  for (size_t i = 0; i < caches.size(); ++i) {
    auto layer = static_cast<int64_t>(i);
    TensorType self{DType::f32, {b, c.heads, capacity, dk}};
    TensorType cross{DType::f32, {b, c.heads, o.src_len, dk}};
    caches[i] = {mb.state(cacheName(layer, "self_attn", "keys"), self),
                 mb.state(cacheName(layer, "self_attn", "values"), self),
                 mb.input(cacheName(layer, "multihead_attn", "keys"), cross),
                 mb.input(cacheName(layer, "multihead_attn", "values"), cross)};
  }
  Modules m(mb, c, 0);
  // Keys after the position are not written yet: -inf. The causal mask of training, one row.
  Tensor later = gt(iota(mb, {capacity}, 0, DType::i64), position);
  Tensor self_mask =
      reshape(select(later, full(mb, -std::numeric_limits<double>::infinity(), {}, DType::f32),
                     full(mb, 0.0, {}, DType::f32)),
              {1, 1, 1, capacity});
  Tensor y = nn::addPositionalEncodingAt(m.tgt_embed(reshape(token, {b, 1})), position, capacity);
  for (size_t i = 0; i < m.decoder.size(); ++i)
    y = m.decoder[i]->step(y, caches[i], position, self_mask, memory_mask);
  mb.output("logits", reshape(m.logits(y), {b, c.vocab}));
  for (size_t i = 0; i < caches.size(); ++i) {
    auto layer = static_cast<int64_t>(i);
    mb.update(cacheName(layer, "self_attn", "keys"), caches[i].self_keys);
    mb.update(cacheName(layer, "self_attn", "values"), caches[i].self_values);
  }
}

} // namespace

BuiltModel buildTransformer(const TransformerConfig &c, Stage stage, const GraphOptions &o) {
  checkConfig(c, o);
  bool decoding = stage == Stage::Encoder || stage == Stage::DecodeStep;
  if (decoding && o.dropout > 0)
    throw Error({}, fmt::format("the decoding programs take no dropout, found {}", o.dropout));
  std::string name = c.name == "custom" ? "transformer" : "transformer_" + c.name;
  if (stage == Stage::Encoder)
    name += "_encoder";
  else if (stage == Stage::DecodeStep)
    name += "_decode_step";
  ModelBuilder mb(name);
  if (stage == Stage::Encoder)
    recordEncoder(mb, c, o);
  else if (stage == Stage::DecodeStep)
    recordDecodeStep(mb, c, o);
  else
    recordTraining(mb, c, stage, o);
  BuiltModel out;
  out.graph = mb.finish();
  out.params = mb.parameters();
  return out;
}

} // namespace kiln
