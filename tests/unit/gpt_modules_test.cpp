// The DSL's pieces of a decoder-only model: the unscaled Embedding, its tied output projection
// (attend), whose gradient must be the sum of both uses' (checked against an untied copy and
// against central finite differences, in f64), and learned position embeddings.

#include "test_util.h"

#include "frontend/nn.h"
#include "passes/autodiff.h"

#include <cmath>
#include <map>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

constexpr int64_t kVocab = 4, kWidth = 5;

/// loss = sum(logits * c) with logits = out.attend(in(ids)); tied: one embedding for both.
std::unique_ptr<Graph> projectionLoss(bool tied) {
  ModelBuilder mb;
  Tensor ids = mb.input("ids", TensorType{DType::i64, {2, 3}});
  Tensor c = mb.input("c", TensorType{DType::f32, {2, 3, kVocab}});
  Tensor logits;
  if (tied) {
    nn::Embedding emb(mb, "emb", kVocab, kWidth, /*scale=*/false);
    logits = emb.attend(emb(ids));
  } else {
    nn::Embedding in(mb, "in", kVocab, kWidth, false), out(mb, "out", kVocab, kWidth, false);
    logits = out.attend(in(ids));
  }
  mb.output("loss", reduceSum(logits * c, {0, 1, 2}));
  return mb.finish();
}

/// Seeded values in [-1, 1).
Literal randomLiteral(Shape shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Literal l(TensorType{DType::f32, std::move(shape)});
  for (double &v : l.data)
    v = std::uniform_real_distribution<double>(-1.0, 1.0)(rng);
  return l;
}

} // namespace

TEST_CASE("Embedding without scaling returns the rows; attend multiplies by the weight^T") {
  ModelBuilder mb;
  Tensor ids = mb.input("ids", TensorType{DType::i64, {1, 2}});
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 2}});
  nn::Embedding emb(mb, "emb", 3, 2, /*scale=*/false);
  mb.output("rows", emb(ids));
  mb.output("logits", emb.attend(x));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"ids", lit({1, 2}, {2, 0}, DType::i64)},
                           {"x", lit({1, 2}, {1, -2})},
                           {"emb.weight", lit({3, 2}, {1, 2, 3, 4, 5, 6})}});
  checkLiteral(out.at("rows"), {1, 2, 2}, {5, 6, 1, 2}, 1e-12);
  // [1, -2] . rows: 1 - 4, 3 - 8, 5 - 12.
  checkLiteral(out.at("logits"), {1, 3}, {-3, -5, -7}, 1e-12);
}

TEST_CASE("attend refuses an input whose last axis is not d_model, at the caller's line") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2, 3}});
  nn::Embedding emb(mb, "emb", 4, 5);
  try {
    (void)emb.attend(x);
    FAIL("no error");
  } catch (const Error &e) {
    CHECK(std::string(e.message()).find("Embedding 'emb'") != std::string::npos);
    CHECK(std::string(e.message()).find("d_model 5, found f32[2,3]") != std::string::npos);
    CHECK(e.location().file.find("gpt_modules_test.cpp") != std::string::npos);
  }
}

TEST_CASE("a tied embedding's gradient is the sum of both uses' and matches finite "
          "differences") {
  std::unique_ptr<Graph> tied = projectionLoss(true), untied = projectionLoss(false);
  differentiate(*tied, AutodiffOptions{"loss", {}});
  differentiate(*untied, AutodiffOptions{"loss", {}});
  Literal ids = lit({2, 3}, {0, 2, 1, 2, 3, 0}, DType::i64);
  Literal c = randomLiteral({2, 3, kVocab}, 1), w = randomLiteral({kVocab, kWidth}, 2);

  auto t = runNamed(*tied, {{"ids", ids}, {"c", c}, {"emb.weight", w}});
  auto u = runNamed(*untied, {{"ids", ids}, {"c", c}, {"in.weight", w}, {"out.weight", w}});
  const Literal &grad = t.at("grad.emb.weight");
  const Literal &lookup = u.at("grad.in.weight"), &projection = u.at("grad.out.weight");
  REQUIRE(grad.shape() == Shape{kVocab, kWidth});
  CHECK(t.at("loss").data[0] == doctest::Approx(u.at("loss").data[0]).epsilon(1e-12));
  bool both_used = false;
  for (int64_t i = 0; i < grad.size(); ++i) {
    INFO("element " << i);
    CHECK(grad.data[i] == doctest::Approx(lookup.data[i] + projection.data[i]).epsilon(1e-12));
    both_used |= lookup.data[i] != 0 && projection.data[i] != 0;
  }
  CHECK(both_used);

  // Central differences of the loss, weight element by element.
  std::unique_ptr<Graph> plain = projectionLoss(true);
  constexpr double h = 1e-5;
  for (int64_t i = 0; i < w.size(); ++i) {
    INFO("element " << i);
    Literal up = w, down = w;
    up.data[i] += h;
    down.data[i] -= h;
    double hi = runNamed(*plain, {{"ids", ids}, {"c", c}, {"emb.weight", up}}).at("loss").data[0];
    double lo = runNamed(*plain, {{"ids", ids}, {"c", c}, {"emb.weight", down}}).at("loss").data[0];
    CHECK(grad.data[i] == doctest::Approx((hi - lo) / (2 * h)).epsilon(1e-7));
  }
}

TEST_CASE("PositionEmbedding adds the first T rows of its table") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2, 2, 3}});
  nn::PositionEmbedding pos(mb, "pos", 4, 3);
  mb.output("y", pos(x));
  auto g = mb.finish();
  CHECK(mb.parameters()[0].name == "pos.weight");
  CHECK(mb.parameters()[0].type.shape == Shape{4, 3});
  std::vector<double> table = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  auto out = runNamed(*g, {{"x", lit({2, 2, 3}, std::vector<double>(12, 0.5))},
                           {"pos.weight", lit({4, 3}, table)}});
  // Both rows of the batch get positions 0 and 1.
  checkLiteral(out.at("y"), {2, 2, 3}, {1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5},
               1e-12);
}

TEST_CASE("PositionEmbedding refuses more positions than its table has") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 5, 3}});
  Tensor wrong = mb.input("wrong", TensorType{DType::f32, {1, 2, 4}});
  nn::PositionEmbedding pos(mb, "pos", 4, 3);
  CHECK_THROWS_WITH_AS((void)pos(x), doctest::Contains("5 positions exceed the table's 4"), Error);
  CHECK_THROWS_WITH_AS((void)pos(wrong), doctest::Contains("must be [B, T, 3], found f32[1,2,4]"),
                       Error);
}
