// The whole Transformer: parameter names and counts, masking, checkpoints.

#include "test_util.h"

#include "frontend/init.h"
#include "frontend/transformer.h"
#include "runtime/checkpoint.h"
#include "runtime/safetensors.h"

#include <filesystem>
#include <fstream>
#include <map>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Parameter count from the architecture's formulas, independent of the builder.
int64_t expectedParams(const TransformerConfig &c) {
  int64_t d = c.d_model, f = c.ffn, v = c.vocab;
  int64_t attention = 3 * d * d + 3 * d + d * d + d; // packed in_proj + out_proj
  int64_t feed_forward = d * f + f + f * d + d;
  int64_t norm = 2 * d;
  int64_t encoder_layer = attention + feed_forward + 2 * norm;
  int64_t decoder_layer = 2 * attention + feed_forward + 3 * norm;
  int64_t embeddings = 2 * v * d + (c.tie_generator ? 0 : v * d) + v;
  return embeddings + c.encoder_layers * encoder_layer + c.decoder_layers * decoder_layer +
         2 * norm;
}

int64_t countParams(const BuiltModel &m) {
  int64_t n = 0;
  for (const ParamSpec &p : m.params)
    n += p.type.numElements();
  return n;
}

BuiltModel tinyModel(TransformerConfig c,
                     GraphOptions o = {.batch = 2, .src_len = 5, .tgt_len = 4}) {
  return buildTransformer(c, Stage::Loss, o);
}

TransformerConfig microConfig() {
  TransformerConfig c = presetConfig("tiny");
  c.d_model = 16, c.heads = 2, c.ffn = 32, c.vocab = 20;
  c.encoder_layers = c.decoder_layers = 1;
  return c;
}

std::map<std::string, Literal> run(const BuiltModel &m, const std::vector<Literal> &weights,
                                   const Literal &src, const Literal &tgt) {
  std::vector<Literal> args = {src, tgt};
  args.insert(args.end(), weights.begin(), weights.end());
  return runByName(*m.graph, args);
}

std::string tempPath(const std::string &name) {
  return (std::filesystem::temp_directory_path() / ("kiln_transformer_test_" + name)).string();
}

} // namespace

TEST_CASE("parameter counts match the architecture's formulas") {
  for (const std::string &name : presetNames()) {
    INFO(name);
    TransformerConfig c = presetConfig(name);
    BuiltModel m = tinyModel(c, {.batch = 1, .src_len = 2, .tgt_len = 2});
    CHECK(countParams(m) == expectedParams(c));
  }
  TransformerConfig tied = presetConfig("tiny");
  tied.tie_generator = true;
  tied.encoder_layers = 3;
  tied.decoder_layers = 1;
  CHECK(countParams(tinyModel(tied)) == expectedParams(tied));
  // The base Transformer of the paper has about 63M weights without the generator and with a
  // 37000-word shared vocabulary; with a 30000 vocabulary and separate embeddings here:
  CHECK(expectedParams(presetConfig("base")) == 90250544);
}

TEST_CASE("parameter names and layouts follow PyTorch's nn.Transformer") {
  BuiltModel m = tinyModel(presetConfig("tiny"));
  std::map<std::string, Shape> shapes;
  for (const ParamSpec &p : m.params)
    shapes[p.name] = p.type.shape;
  CHECK(shapes.at("encoder.layers.0.self_attn.in_proj_weight") == Shape{192, 64});
  CHECK(shapes.at("encoder.layers.0.self_attn.in_proj_bias") == Shape{192});
  CHECK(shapes.at("encoder.layers.1.self_attn.out_proj.weight") == Shape{64, 64});
  CHECK(shapes.at("encoder.layers.0.linear1.weight") == Shape{256, 64});
  CHECK(shapes.at("encoder.layers.0.linear2.weight") == Shape{64, 256});
  CHECK(shapes.at("encoder.layers.0.norm2.bias") == Shape{64});
  CHECK(shapes.at("decoder.layers.1.multihead_attn.out_proj.weight") == Shape{64, 64});
  CHECK(shapes.at("decoder.layers.0.norm3.weight") == Shape{64});
  CHECK(shapes.at("encoder.norm.weight") == Shape{64});
  CHECK(shapes.at("decoder.norm.bias") == Shape{64});
  CHECK(shapes.at("src_embed.weight") == Shape{1000, 64});
  CHECK(shapes.at("tgt_embed.weight") == Shape{1000, 64});
  CHECK(shapes.at("generator.weight") == Shape{1000, 64});
  CHECK(shapes.at("generator.bias") == Shape{1000});
  CHECK(shapes.size() == 68);
}

TEST_CASE("the graph records primitives only and prints, parses and prints the same") {
  BuiltModel m = tinyModel(microConfig(), {.batch = 2, .src_len = 3, .tgt_len = 3, .dropout = 0.1});
  for (const auto &n : m.graph->nodes())
    for (OpHandle fused : {op::Softmax, op::LayerNorm, op::Attention, op::SoftmaxCrossEntropy})
      CHECK(!n->is(fused));
  CHECK(m.graph->findInput("seed"));
  CHECK(m.graph->findOutput("loss"));
  CHECK(m.graph->findOutput("logits")->value->type.shape == Shape{2, 3, 20});
}

TEST_CASE("initial weights: Xavier bounds, zero biases, unit norms, seeded") {
  BuiltModel m = tinyModel(microConfig());
  auto a = initialValues(m.params, 7), b = initialValues(m.params, 7),
       c = initialValues(m.params, 8);
  for (size_t i = 0; i < m.params.size(); ++i) {
    const ParamSpec &p = m.params[i];
    INFO(p.name);
    CHECK(a[i].data == b[i].data);
    if (p.init == Init::XavierUniform) {
      double bound = std::sqrt(6.0 / static_cast<double>(p.type.shape[0] + p.type.shape[1]));
      double max_abs = 0;
      for (double v : a[i].data)
        max_abs = std::max(max_abs, std::abs(v));
      CHECK(max_abs <= bound);
      CHECK(max_abs > 0.9 * bound);
      CHECK(a[i].data != c[i].data);
    } else {
      double want = p.init == Init::Ones ? 1.0 : 0.0;
      for (double v : a[i].data)
        CHECK(v == want);
    }
  }
}

TEST_CASE("padded source tokens and future target tokens do not change other logits") {
  TransformerConfig c = microConfig();
  BuiltModel m = tinyModel(c, {.batch = 2, .src_len = 5, .tgt_len = 4});
  auto w = initialValues(m.params, 1);
  Literal src = lit({2, 5}, {5, 6, 7, 2, 0, 8, 9, 2, 0, 0}, DType::i64);
  Literal tgt = lit({2, 4}, {10, 11, 12, 2, 13, 2, 0, 0}, DType::i64);
  Literal base = run(m, w, src, tgt).at("logits");

  // Rows of a batch are independent: changing row 1's source leaves row 0 bit for bit.
  Literal other_src = src;
  other_src.data[5] = 17;
  Literal other_row = run(m, w, other_src, tgt).at("logits");
  int64_t per_row = 4 * 20;
  for (int64_t i = 0; i < per_row; ++i)
    CHECK(other_row.data[i] == base.data[i]);

  // A future target token: positions before it keep their logits exactly.
  Literal tgt2 = tgt;
  tgt2.data[2] = 15; // tgt[0, 2] is read by the decoder at position 3 only
  Literal future = run(m, w, src, tgt2).at("logits");
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t v = 0; v < 20; ++v)
      CHECK(future.data[t * 20 + v] == base.data[t * 20 + v]);
  bool changed = false;
  for (int64_t v = 0; v < 20; ++v)
    changed |= future.data[3 * 20 + v] != base.data[3 * 20 + v];
  CHECK(changed);
}

TEST_CASE("padded source positions are masked: what they hold does not reach the logits") {
  // Perturbing the embedding of the pad token changes what every padded source position holds;
  // keys at those positions are masked everywhere, and no unpadded query reads their outputs,
  // so every logit stays the same bit for bit.
  TransformerConfig c = microConfig();
  BuiltModel m = tinyModel(c, {.batch = 1, .src_len = 4, .tgt_len = 3});
  auto w = initialValues(m.params, 3);
  Literal src = lit({1, 4}, {5, 6, 0, 0}, DType::i64);
  Literal tgt = lit({1, 3}, {7, 8, 2}, DType::i64);
  Literal base = run(m, w, src, tgt).at("logits");
  size_t src_embed = 0;
  for (size_t i = 0; i < m.params.size(); ++i)
    if (m.params[i].name == "src_embed.weight")
      src_embed = i;
  auto w2 = w;
  for (int64_t j = 0; j < c.d_model; ++j)
    w2[src_embed].data[j] += 0.5; // row 0: the pad token
  Literal moved = run(m, w2, src, tgt).at("logits");
  CHECK(moved.data == base.data);
}

TEST_CASE("checkpoints: round trip, and every mismatch reported at once") {
  BuiltModel m = tinyModel(microConfig());
  auto values = initialValues(m.params, 0);
  std::map<std::string, HostBuffer> tensors;
  std::vector<TensorDecl> decls;
  for (size_t i = 0; i < m.params.size(); ++i) {
    tensors.emplace(m.params[i].name, test::toBuffer(values[i]));
    decls.push_back({m.params[i].name, m.params[i].type});
  }
  std::string path = tempPath("ok.safetensors");
  saveCheckpoint(path, tensors);
  auto loaded = loadCheckpoint(path, decls);
  for (const auto &[name, value] : tensors)
    CHECK(loaded.at(name) == value);

  // Missing, extra, wrong shape and wrong dtype, all in one message.
  auto broken = tensors;
  broken.erase("encoder.norm.weight");
  broken.emplace("encoder.norm.scale", HostBuffer(TensorType{DType::f32, {16}}));
  broken["decoder.norm.bias"] = HostBuffer(TensorType{DType::f32, {17}});
  broken["generator.bias"] = HostBuffer(TensorType{DType::f64, {20}});
  std::string bad = tempPath("bad.safetensors");
  saveCheckpoint(bad, broken);
  try {
    loadCheckpoint(bad, decls);
    FAIL("no error");
  } catch (const Error &e) {
    std::string msg = e.what();
    CHECK(msg.find("4 problems in the checkpoint") != std::string::npos);
    CHECK(msg.find("missing tensor 'encoder.norm.weight' (f32[16])") != std::string::npos);
    CHECK(msg.find("unexpected tensor 'encoder.norm.scale' (f32[16])") != std::string::npos);
    CHECK(msg.find("tensor 'decoder.norm.bias' has shape [17], expected [16]") !=
          std::string::npos);
    CHECK(msg.find("tensor 'generator.bias' has dtype f64, expected f32") != std::string::npos);
  }

  // A truncated file is an error, never a crash.
  auto size = std::filesystem::file_size(path);
  std::string cut = tempPath("cut.safetensors");
  std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, size / 2);
  CHECK_THROWS_AS(loadCheckpoint(cut, decls), Error);
  std::filesystem::remove(path);
  std::filesystem::remove(bad);
  std::filesystem::remove(cut);
}

TEST_CASE("a checkpoint written by hand with PyTorch's names loads without renaming") {
  // Build the file from raw safetensors pieces, as another framework would write it.
  TransformerConfig c = microConfig();
  BuiltModel m = tinyModel(c);
  TensorMap file;
  for (const ParamSpec &p : m.params) {
    Literal z(p.type);
    std::fill(z.data.begin(), z.data.end(), 0.25);
    file[p.name] = TensorData{p.type.dtype, p.type.shape, z.toBytes()};
  }
  std::string path = tempPath("foreign.safetensors");
  writeSafetensors(path, file, {{"format", "pt"}});
  std::vector<TensorDecl> decls;
  for (const ParamSpec &p : m.params)
    decls.push_back({p.name, p.type});
  auto loaded = loadCheckpoint(path, decls);
  CHECK(loaded.at("decoder.layers.0.multihead_attn.in_proj_weight").getDouble(0) == 0.25);
  std::filesystem::remove(path);
}

TEST_CASE("configs are checked before building") {
  TransformerConfig c = presetConfig("tiny");
  c.heads = 5;
  CHECK_THROWS_WITH_AS(buildTransformer(c, Stage::Forward, {}),
                       "<unknown>: error: d_model 64 is not divisible by 5 heads", Error);
  CHECK_THROWS_WITH_AS(presetConfig("huge"),
                       "<unknown>: error: unknown config 'huge'; known configs: tiny, small, base",
                       Error);
}
