// The fusion pipeline on the Transformer: every attention, layer norm and cross-entropy is
// fused on every config, forward and backward, and the fused graph computes what the unfused
// one computes.

#include "test_util.h"

#include "compiler/programs.h"
#include "frontend/init.h"

#include <map>

using namespace kiln;

namespace {

std::map<std::string_view, int> opCounts(const Graph &g) {
  std::map<std::string_view, int> counts;
  for (const auto &n : g.nodes())
    ++counts[n->name()];
  return counts;
}

/// What the architecture has: attention per encoder layer 1, per decoder layer 2; layer norms
/// per encoder layer 2, per decoder layer 3, plus the two final norms; one loss.
struct Expected {
  int attention, layer_norm;
};

Expected expectedOf(const TransformerConfig &c) {
  return {static_cast<int>(c.encoder_layers + 2 * c.decoder_layers),
          static_cast<int>(2 * c.encoder_layers + 3 * c.decoder_layers + 2)};
}

void checkFusedForward(const std::map<std::string_view, int> &counts, const Expected &want) {
  auto count = [&](OpHandle op) { return counts.count(op.name) ? counts.at(op.name) : 0; };
  CHECK(count(op::Attention) == want.attention);
  CHECK(count(op::LayerNorm) == want.layer_norm);
  CHECK(count(op::SoftmaxCrossEntropy) == 1);
  // Nothing of the written-out forms is left.
  CHECK(count(op::Softmax) == 0);
  CHECK(count(op::Exp) == 0);
  CHECK(count(op::ReduceMax) == 0);
}

} // namespace

TEST_CASE("every attention, layer norm and cross-entropy is fused on every config, forward and "
          "backward") {
  for (const std::string &name : presetNames()) {
    for (double dropout : {0.0, 0.1}) {
      INFO(name << ", dropout " << dropout);
      TransformerConfig c = presetConfig(name);
      GraphOptions shape{.batch = 2, .src_len = 5, .tgt_len = 4, .dropout = dropout};
      Expected want = expectedOf(c);
      if (name == "tiny") {
        CHECK(want.attention == 6); // 2 encoder self, 2 decoder self, 2 cross
        CHECK(want.layer_norm == 12);
      }
      checkFusedForward(opCounts(*buildLoss(c, shape).graph), want);
      OptimizerOptions adam;
      auto train = opCounts(*buildTrainStep(c, shape, adam).graph);
      checkFusedForward(train, want);
      CHECK(train[op::AttentionGrad.name] == want.attention);
      CHECK(train[op::LayerNormGrad.name] == want.layer_norm);
      CHECK(train[op::SoftmaxCrossEntropyGrad.name] == 1);
      CHECK(train[op::SoftmaxGrad.name] == 0);
      // Dropout on the attention probabilities went into the op.
      BuiltModel loss = buildLoss(c, shape);
      for (const auto &n : loss.graph->nodes())
        if (n->is(op::Attention))
          CHECK(n->getFloat("dropout") == dropout);
    }
  }
  // Variants of the architecture fuse as well.
  TransformerConfig v = presetConfig("tiny");
  v.pre_norm = v.gelu = v.tie_generator = true;
  v.label_smoothing = 0.1;
  v.encoder_layers = 3;
  v.decoder_layers = 1;
  checkFusedForward(opCounts(*buildLoss(v, {.batch = 2, .src_len = 5, .tgt_len = 4}).graph),
                    expectedOf(v));
}

namespace {

std::vector<Literal> argsFor(const Graph &g, const std::vector<ParamSpec> &params,
                             const std::vector<Literal> &values) {
  std::map<std::string, Literal> by_name;
  for (size_t i = 0; i < params.size(); ++i)
    by_name.emplace(params[i].name, values[i]);
  by_name.emplace("src", Literal(TensorType{DType::i64, {2, 5}}, {5, 6, 7, 8, 2, 9, 10, 2, 0, 0}));
  by_name.emplace("tgt", Literal(TensorType{DType::i64, {2, 4}}, {11, 12, 13, 2, 14, 2, 0, 0}));
  by_name.emplace("seed", test::keyLiteral(21));
  std::vector<Literal> args;
  for (const GraphInput &in : g.inputs())
    args.push_back(by_name.at(in.name));
  return args;
}

} // namespace

TEST_CASE("the fused tiny Transformer has the unfused loss, logits and gradients") {
  // In f64 the fused kernels and the written-out primitives differ only by the order of
  // floating-point operations (and mean(x^2) - mean(x)^2 is not used here), so they agree to
  // about 1e-13; 1e-9 relative to each tensor's largest magnitude leaves room.
  for (double dropout : {0.0, 0.2}) {
    INFO("dropout " << dropout);
    TransformerConfig c = presetConfig("tiny");
    c.vocab = 40;
    c.label_smoothing = 0.1;
    GraphOptions shape{.batch = 2, .src_len = 5, .tgt_len = 4, .dropout = dropout};
    BuiltModel fused = buildGradients(c, shape, "default");
    BuiltModel plain = buildGradients(c, shape, "none");
    CHECK(opCounts(*fused.graph)[op::AttentionGrad.name] == 6);
    CHECK(opCounts(*plain.graph)[op::AttentionGrad.name] == 0);
    auto values = initialValues(fused.params, 9);
    auto a = test::runByName(*fused.graph, argsFor(*fused.graph, fused.params, values), true);
    auto b = test::runByName(*plain.graph, argsFor(*plain.graph, plain.params, values), true);
    REQUIRE(a.size() == b.size());
    for (const auto &[name, want] : b) {
      INFO(name);
      const Literal &got = a.at(name);
      REQUIRE(got.shape() == want.shape());
      double scale = 0, worst = 0;
      for (int64_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(want.data[i]));
        worst = std::max(worst, std::abs(got.data[i] - want.data[i]));
      }
      CHECK(worst <= 1e-9 * std::max(scale, 1e-30));
    }
  }
}
