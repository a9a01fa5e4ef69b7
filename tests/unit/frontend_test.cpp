// The DSL and the nn modules, against small cases worked out by hand, in f64.

#include "test_util.h"

#include "frontend/nn.h"
#include "frontend/transformer.h"
#include "ir/printer.h"

#include <cmath>
#include <map>
#include <sstream>

using namespace kiln;
using namespace kiln::test;

TEST_CASE("DSL errors point at the user's line") {
  ModelBuilder mb;
  Tensor a = mb.input("a", TensorType{DType::f32, {32, 64}});
  int line = __LINE__ + 1;
  CHECK_THROWS_WITH_AS(
      matmul(a, a), doctest::Contains(fmt::format("frontend_test.cpp:{}:", line).c_str()), Error);
  CHECK_THROWS_WITH_AS(
      matmul(a, a), doctest::Contains("error: matmul: inner dimensions differ: [32,64] x [32,64]"),
      Error);
  Tensor b = mb.input("b", TensorType{DType::f32, {3}});
  line = __LINE__ + 1;
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains(fmt::format("frontend_test.cpp:{}:", line).c_str()),
                       Error);
  // Inside a module the error names the module and still points at the caller.
  nn::Linear lin(mb, "proj", 10, 4);
  line = __LINE__ + 1;
  CHECK_THROWS_WITH_AS(
      lin(a), doctest::Contains(fmt::format("frontend_test.cpp:{}:", line).c_str()), Error);
  CHECK_THROWS_WITH_AS(lin(a), doctest::Contains("Linear 'proj': matmul: inner dimensions differ"),
                       Error);
  CHECK_THROWS_WITH_AS(mb.parameter("proj.weight", {1}, Init::Zeros),
                       doctest::Contains("parameter 'proj.weight' is declared twice"), Error);
}

TEST_CASE("a node built in a module records the module's scope and the line that called it") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2, 4}});
  nn::Linear inner(mb, "encoder.proj", 4, 4);
  nn::MultiHeadAttention attn(mb, "decoder.layers.1.self_attn", 4, 2, 0.0);
  Tensor loose = x * x; // outside modules: no scope, no caller
  int line = __LINE__ + 1;
  Tensor y = inner(loose);
  int attn_line = __LINE__ + 1;
  Tensor z = attn(reshape(y, {1, 2, 4}), reshape(y, {1, 2, 4}), Tensor());
  mb.output("z", z);
  auto g = mb.finish();
  int scoped = 0;
  for (const auto &n : g->nodes()) {
    const Location &at = n->loc;
    if (at.scope.empty()) {
      CHECK(at.caller_file.empty());
      CHECK(std::string_view(at.file).ends_with("frontend_test.cpp"));
      continue;
    }
    ++scoped;
    // The node was built inside kiln's nn.cpp; the caller is this file, at the module's call.
    CHECK(std::string_view(at.file).ends_with("nn.cpp"));
    CHECK(std::string_view(at.caller_file).ends_with("frontend_test.cpp"));
    if (at.scope == "encoder.proj") {
      CHECK(at.caller_line == line);
    } else {
      // out_proj, called by the attention, counts as the attention's: the outermost call.
      bool attention = at.scope == "decoder.layers.1.self_attn" ||
                       at.scope == "decoder.layers.1.self_attn.out_proj";
      CHECK(attention);
      CHECK(at.caller_line == attn_line);
    }
  }
  CHECK(scoped > 5);
  std::string user = printGraph(*g), full = printGraph(*g, {.locations = Locations::Full});
  CHECK(user.find(fmt::format("frontend_test.cpp\":{}:", line)) != std::string::npos);
  CHECK(user.find("in \"decoder.layers.1.self_attn\")") != std::string::npos);
  // Only the parameters' declarations point into nn.cpp; no node does.
  std::istringstream lines(user);
  for (std::string text; std::getline(lines, text);)
    if (text.find(" = ") != std::string::npos)
      CHECK(text.find("nn.cpp") == std::string::npos);
  CHECK(full.find("nn.cpp\":") != std::string::npos);
  CHECK(full.find(fmt::format(" at \"{}\":{}:", __FILE__, line)) != std::string::npos);
}

TEST_CASE("finish drops unread parameters; the rest are found by name at their new places") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2}});
  Tensor unread = mb.parameter("a", {2}, Init::Zeros);
  Tensor w = mb.parameter("w", {2}, Init::Ones);
  mb.parameter("b", {2}, Init::Zeros);
  mb.output("y", x * w);
  (void)unread;
  // A name with a tab and a byte that is not UTF-8 is quoted with both escaped.
  mb.input("tab\there\xff", TensorType{DType::f32, {1}});
  CHECK_THROWS_WITH_AS(mb.input("tab\there\xff", TensorType{DType::f32, {1}}),
                       doctest::Contains("input 'tab\\there\\xff' is declared twice"), Error);
  auto g = mb.finish();
  REQUIRE(g->inputs().size() == 3);
  CHECK(!g->findInput("a"));
  CHECK(!g->findInput("b"));
  const GraphInput *kept = g->findInput("w");
  REQUIRE(kept);
  CHECK(kept == &g->inputs()[1]);
  CHECK(kept->value->index == 1);
  CHECK(g->findInput("tab\there\xff") == &g->inputs()[2]);
  REQUIRE(mb.parameters().size() == 1);
  CHECK(mb.parameters()[0].name == "w");
}

TEST_CASE("recorded nodes carry the DSL call site") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2}});
  int line = __LINE__ + 1;
  Tensor y = exp(x) * 2.0;
  mb.output("y", y);
  auto g = mb.finish();
  for (const auto &n : g->nodes()) {
    CHECK(n->loc.file.find("frontend_test.cpp") != std::string::npos);
    CHECK(n->loc.line == line);
  }
}

TEST_CASE("Linear computes x W^T + b with W stored [out, in]") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 2}});
  nn::Linear lin(mb, "lin", 2, 3);
  mb.output("y", lin(x));
  auto g = mb.finish();
  CHECK(mb.parameters()[0].name == "lin.weight");
  CHECK(mb.parameters()[0].type.shape == Shape{3, 2});
  auto out = runNamed(*g, {{"x", lit({1, 2}, {1, 2})},
                           {"lin.weight", lit({3, 2}, {1, 0, 0, 1, 1, 1})},
                           {"lin.bias", lit({3}, {0.5, 0, -1})}});
  checkLiteral(out.at("y"), {1, 3}, {1.5, 2, 2}, 1e-12);
}

TEST_CASE("Embedding looks rows up and scales them by sqrt(d_model)") {
  ModelBuilder mb;
  Tensor ids = mb.input("ids", TensorType{DType::i64, {1, 2}});
  nn::Embedding emb(mb, "emb", 3, 4);
  mb.output("y", emb(ids));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"ids", lit({1, 2}, {2, 0}, DType::i64)},
                           {"emb.weight", lit({3, 4}, {0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4})}});
  checkLiteral(out.at("y"), {1, 2, 4}, {2, 4, 6, 8, 0, 0, 0, 2}, 1e-12);
}

TEST_CASE("the sinusoidal table follows the paper") {
  auto pe = nn::sinusoidalTable(3, 4);
  // pos 0: sin 0, cos 0, sin 0, cos 0. pos 2, i = 2: angle 2 / 10000^(2/4) = 0.02.
  checkLiteral(lit({3, 4}, pe), {3, 4},
               {0, 1, 0, 1, std::sin(1.0), std::cos(1.0), std::sin(0.01), std::cos(0.01),
                std::sin(2.0), std::cos(2.0), std::sin(0.02), std::cos(0.02)},
               1e-15);
}

TEST_CASE("LayerNorm writes mean and variance out and matches the formula") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {2, 2}});
  nn::LayerNorm ln(mb, "ln", 2);
  mb.output("y", ln(x));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"x", lit({2, 2}, {1, 3, 5, 5})},
                           {"ln.weight", lit({2}, {2, 1})},
                           {"ln.bias", lit({2}, {0, 1})}});
  double r = 1 / std::sqrt(1 + 1e-5);
  checkLiteral(out.at("y"), {2, 2}, {-2 * r, 1 + r, 0, 1}, 1e-12);
  for (const auto &n : g->nodes())
    CHECK(!n->is(op::LayerNorm));
}

TEST_CASE("softmax and log-softmax written out") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 2}});
  mb.output("p", nn::softmax(x));
  mb.output("lp", nn::logSoftmax(x));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"x", lit({1, 2}, {0, std::log(3.0)})}});
  checkLiteral(out.at("p"), {1, 2}, {0.25, 0.75}, 1e-12);
  checkLiteral(out.at("lp"), {1, 2}, {std::log(0.25), std::log(0.75)}, 1e-12);
  for (const auto &n : g->nodes())
    CHECK(!n->is(op::Softmax));
}

TEST_CASE("dropout: identity at p = 0; zero or x / (1 - p) otherwise, reproducible by seed") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1000}});
  CHECK(nn::dropout(x, 0.0).value() == x.value());
  mb.output("y", nn::dropout(x, 0.25));
  mb.output("z", nn::dropout(x, 0.25));
  auto g = mb.finish();
  Literal ones(TensorType{DType::f32, {1000}}, std::vector<double>(1000, 1.0));
  auto a = runNamed(*g, {{"x", ones}, {"seed", keyLiteral(5)}});
  auto b = runNamed(*g, {{"x", ones}, {"seed", keyLiteral(5)}});
  auto c = runNamed(*g, {{"x", ones}, {"seed", keyLiteral(6)}});
  int zeros = 0;
  for (double v : a.at("y").data) {
    CHECK((v == 0 || std::abs(v - 1 / 0.75) < 1e-12));
    zeros += v == 0;
  }
  CHECK(zeros > 200);
  CHECK(zeros < 300);
  CHECK(a.at("y").data == b.at("y").data);
  CHECK(a.at("y").data != c.at("y").data);
  CHECK(a.at("y").data != a.at("z").data); // each site draws its own counters
}

TEST_CASE("multi-head attention by hand: one head, identity projections") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 2, 2}});
  nn::MultiHeadAttention mha(mb, "attn", 2, 1, 0.0);
  mb.output("y", mha(x, x, Tensor()));
  auto g = mb.finish();
  std::vector<double> eye3 = {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1};
  // q = k = v = x; scores = x x^T / sqrt(2). x rows (a, 0) and (0, 0): row 0 scores (a^2/sqrt2, 0).
  double a = 2.0;
  auto out = runNamed(*g, {{"x", lit({1, 2, 2}, {a, 0, 0, 0})},
                           {"attn.in_proj_weight", lit({6, 2}, eye3)},
                           {"attn.in_proj_bias", lit({6}, {0, 0, 0, 0, 0, 0})},
                           {"attn.out_proj.weight", lit({2, 2}, {1, 0, 0, 1})},
                           {"attn.out_proj.bias", lit({2}, {0, 0})}});
  double s = a * a / std::sqrt(2.0), p0 = std::exp(s) / (std::exp(s) + 1);
  checkLiteral(out.at("y"), {1, 2, 2}, {p0 * a, 0, 0.5 * a, 0}, 1e-12);
}

TEST_CASE("feed-forward: linear2(relu(linear1(x)))") {
  ModelBuilder mb;
  Tensor x = mb.input("x", TensorType{DType::f32, {1, 2}});
  nn::FeedForward ff(mb, 2, 2, false, 0.0);
  mb.output("y", ff(x));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"x", lit({1, 2}, {1, -2})},
                           {"linear1.weight", lit({2, 2}, {1, 0, 0, 1})},
                           {"linear1.bias", lit({2}, {0, 0})},
                           {"linear2.weight", lit({2, 2}, {1, 1, 2, 0})},
                           {"linear2.bias", lit({2}, {0, 3})}});
  checkLiteral(out.at("y"), {1, 2}, {1, 5}, 1e-12);
}

TEST_CASE("padding and causal masks; attention weights on padded keys are zero") {
  ModelBuilder mb;
  Tensor ids = mb.input("ids", TensorType{DType::i64, {1, 3}});
  Tensor scores = mb.input("scores", TensorType{DType::f32, {1, 1, 3, 3}});
  mb.output("pad", paddingMask(ids, 0));
  mb.output("causal", causalMask(mb, 3));
  mb.output("probs", nn::softmax(scores + paddingMask(ids, 0)));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"ids", lit({1, 3}, {5, 0, 7}, DType::i64)},
                           {"scores", lit({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}});
  double inf = INFINITY;
  checkLiteral(out.at("pad"), {1, 1, 1, 3}, {0, -inf, 0});
  checkLiteral(out.at("causal"), {3, 3}, {0, -inf, -inf, 0, 0, -inf, 0, 0, 0});
  for (int row = 0; row < 3; ++row)
    CHECK(out.at("probs").data[row * 3 + 1] == 0.0);
}

TEST_CASE("teacher forcing: the decoder reads BOS + tgt[:, :-1]") {
  ModelBuilder mb;
  Tensor tgt = mb.input("tgt", TensorType{DType::i64, {2, 4}});
  mb.output("dec_in", shiftRight(tgt, 1));
  auto g = mb.finish();
  auto out = runNamed(*g, {{"tgt", lit({2, 4}, {7, 8, 9, 2, 5, 2, 0, 0}, DType::i64)}});
  checkLiteral(out.at("dec_in"), {2, 4}, {1, 7, 8, 9, 1, 5, 2, 0});
}

TEST_CASE("cross-entropy ignores PAD and applies label smoothing like PyTorch") {
  ModelBuilder mb;
  Tensor logits = mb.input("logits", TensorType{DType::f32, {1, 3, 3}});
  Tensor tgt = mb.input("tgt", TensorType{DType::i64, {1, 3}});
  mb.output("plain", crossEntropy(logits, tgt, 0, 0.0));
  mb.output("smooth", crossEntropy(logits, tgt, 0, 0.1));
  auto g = mb.finish();
  std::vector<double> x = {1, 2, 3, 0, 0, 0, 5, -1, 2};
  std::vector<double> labels = {2, 1, 0};
  auto out =
      runNamed(*g, {{"logits", lit({1, 3, 3}, x)}, {"tgt", lit({1, 3}, labels, DType::i64)}});
  // Independently: per row, lse - x[label]; smoothing term = mean over classes of lse - x[c].
  double plain = 0, smooth = 0;
  for (int r = 0; r < 2; ++r) {
    double lse = std::log(std::exp(x[3 * r]) + std::exp(x[3 * r + 1]) + std::exp(x[3 * r + 2]));
    double nll = lse - x[3 * r + static_cast<int>(labels[r])];
    double uniform = (3 * lse - x[3 * r] - x[3 * r + 1] - x[3 * r + 2]) / 3;
    plain += nll / 2;
    smooth += (0.9 * nll + 0.1 * uniform) / 2;
  }
  checkLiteral(out.at("plain"), {}, {plain}, 1e-12);
  checkLiteral(out.at("smooth"), {}, {smooth}, 1e-12);
}
