// The fusion pipeline on the Transformer: every attention, layer norm and cross-entropy is
// fused on every config, forward and backward, and the fused graph computes what the unfused
// one computes.

#include "test_util.h"

#include "compiler/programs.h"
#include "frontend/init.h"
#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"

#include <cmath>
#include <map>
#include <sstream>

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

/// `reduce_max`: the maxima the program keeps (the train step's one, which counts the targets
/// predicted correctly).
void checkFusedForward(const std::map<std::string_view, int> &counts, const Expected &want,
                       int reduce_max = 0) {
  auto count = [&](OpHandle op) { return counts.count(op.name) ? counts.at(op.name) : 0; };
  CHECK(count(op::Attention) == want.attention);
  CHECK(count(op::LayerNorm) == want.layer_norm);
  CHECK(count(op::SoftmaxCrossEntropy) == 1);
  // Nothing of the written-out forms is left.
  CHECK(count(op::Softmax) == 0);
  CHECK(count(op::Exp) == 0);
  CHECK(count(op::ReduceMax) == reduce_max);
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
      checkFusedForward(train, want, 1);
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

// ---- fused graphs against the written ones, on inputs a model would not produce ----------

namespace {

/// A graph as written and after the infer pipeline.
struct FusedPair {
  std::unique_ptr<Graph> plain, fused;
};

FusedPair fuseText(const char *text) {
  FusedPair f{parseGraph(text, "t.kir"), parseGraph(text, "t.kir")};
  std::string names;
  for (const std::string &p : pipelinePasses("infer", "f32"))
    names += (names.empty() ? "" : ",") + p;
  PassManager pm;
  pm.addPipeline(names);
  std::ostringstream dump;
  pm.run(*f.fused, dump);
  return f;
}

bool hasOp(const Graph &g, OpHandle op) {
  for (const auto &n : g.nodes())
    if (n->is(op))
      return true;
  return false;
}

/// Runs a graph in f64; the outputs, or nothing when the interpreter reports an error.
std::optional<std::vector<Literal>> tryRun(const Graph &g, const std::vector<Literal> &inputs) {
  try {
    return reference::run(g, inputs, reference::Options{true});
  } catch (const Error &) {
    return std::nullopt;
  }
}

/// Both graphs give the same outputs (NaN where NaN, to 1e-12 relative elsewhere), or both an
/// error.
void checkSameOn(const FusedPair &f, const std::vector<Literal> &inputs) {
  auto want = tryRun(*f.plain, inputs), got = tryRun(*f.fused, inputs);
  REQUIRE(want.has_value() == got.has_value());
  if (!want)
    return;
  REQUIRE(want->size() == got->size());
  for (size_t i = 0; i < want->size(); ++i)
    for (int64_t j = 0; j < (*want)[i].size(); ++j) {
      double a = (*want)[i].data[j], b = (*got)[i].data[j];
      INFO("output " << i << " element " << j << ": " << a << " written, " << b << " fused");
      if (std::isnan(a) || std::isinf(a))
        CHECK((std::isnan(a) ? std::isnan(b) : a == b));
      else
        CHECK(std::abs(a - b) <= 1e-12 * std::max(1.0, std::abs(a)));
    }
}

/// The Transformer's loss: gather, label smoothing 0.1, labels != 0 counted.
const char *kGatherLoss = R"(graph @loss {
  input data %x: f32[4,5]
  input data %labels: i64[4]
  %m = reduce_max(%x) {axes = [1], keepdims = true} : f32[4,1]
  %z = sub(%x, %m) : f32[4,5]
  %e = exp(%z) : f32[4,5]
  %s = reduce_sum(%e) {axes = [1], keepdims = true} : f32[4,1]
  %l = log(%s) : f32[4,1]
  %lp = sub(%z, %l) : f32[4,5]
  %g = gather(%lp, %labels) {axis = 1, batch_dims = 1} : f32[4]
  %nll = neg(%g) : f32[4]
  %mean = reduce_mean(%lp) {axes = [1]} : f32[4]
  %smooth = neg(%mean) : f32[4]
  %a = constant() {value = [0.9]} : f32[]
  %b = constant() {value = [0.1]} : f32[]
  %wa = mul(%nll, %a) : f32[4]
  %wb = mul(%smooth, %b) : f32[4]
  %per = add(%wa, %wb) : f32[4]
  %pad = constant() {dtype = i64, value = [0.0]} : i64[]
  %ne = ne(%labels, %pad) : bool[4]
  %mask = cast(%ne) {dtype = f32} : f32[4]
  %pm = mul(%per, %mask) : f32[4]
  %num = reduce_sum(%pm) {axes = [0]} : f32[]
  %den = reduce_sum(%mask) {axes = [0]} : f32[]
  %loss = div(%num, %den) : f32[]
  output "loss" = %loss
})";

/// -mean(sum(logp * onehot(LABELS))) over 5 classes, LABELS replaced by the caller.
std::string oneHotLoss(const std::string &labels) {
  return R"(graph @loss {
  input data %x: f32[4,5]
  input data %labels: i64[4]
  %zero = constant() {dtype = i64, value = [0.0]} : i64[]
  %four = constant() {dtype = i64, value = [4.0]} : i64[]
  %low = max(%labels, %zero) : i64[4]
  %clamped = min(%low, %four) : i64[4]
  %sm = softmax(%x) : f32[4,5]
  %lp = log(%sm) : f32[4,5]
  %io = iota() {axis = 1, shape = [4, 5]} : i64[4,5]
  %lr = reshape()" +
         labels +
         R"() {shape = [4, 1]} : i64[4,1]
  %eq = eq(%io, %lr) : bool[4,5]
  %oh = cast(%eq) {dtype = f32} : f32[4,5]
  %prod = mul(%lp, %oh) : f32[4,5]
  %sum = reduce_sum(%prod) {axes = [1]} : f32[4]
  %nll = neg(%sum) : f32[4]
  %loss = reduce_mean(%nll) {axes = [0]} : f32[]
  output "loss" = %loss
})";
}

Literal labels(std::vector<double> values, DType dtype = DType::i64) {
  auto n = static_cast<int64_t>(values.size());
  return test::lit({n}, std::move(values), dtype);
}

Literal logits() {
  std::vector<double> x(20);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(1.7 * static_cast<double>(i)) * 3;
  return test::lit({4, 5}, x);
}

} // namespace

TEST_CASE("a fused cross-entropy computes the written one for every label") {
  SUBCASE("gather with a pad mask: pad rows dropped, others an error outside [0, V)") {
    FusedPair f = fuseText(kGatherLoss);
    REQUIRE(hasOp(*f.fused, op::SoftmaxCrossEntropy));
    checkSameOn(f, {logits(), labels({0, 3, 0, 4})});
    checkSameOn(f, {logits(), labels({0, 0, 0, 0})}); // every row padding: 0 / 0 in both
    checkSameOn(f, {logits(), labels({1, -100, 2, 3})});
    checkSameOn(f, {logits(), labels({1, 5, 2, 3})});
    CHECK_FALSE(tryRun(*f.fused, {logits(), labels({1, -100, 2, 3})}));
  }
  SUBCASE("a plain mean ignores no label, -100 included") {
    FusedPair f = fuseText(R"(graph @loss {
  input data %x: f32[4,5]
  input data %labels: i32[4]
  %sm = softmax(%x) : f32[4,5]
  %lp = log(%sm) : f32[4,5]
  %g = gather(%lp, %labels) {axis = 1, batch_dims = 1} : f32[4]
  %nll = neg(%g) : f32[4]
  %loss = reduce_mean(%nll) {axes = [0]} : f32[]
  output "loss" = %loss
})");
    REQUIRE(hasOp(*f.fused, op::SoftmaxCrossEntropy));
    checkSameOn(f, {logits(), labels({1, 0, 4, 3}, DType::i32)});
    // The written gather rejects -100; the fused op must not drop the row instead.
    CHECK_FALSE(tryRun(*f.fused, {logits(), labels({1, -100, 4, 3}, DType::i32)}));
  }
  SUBCASE("a one-hot of any labels stays written out") {
    FusedPair f = fuseText(oneHotLoss("%labels").c_str());
    CHECK_FALSE(hasOp(*f.fused, op::SoftmaxCrossEntropy));
    // -100 and 5 pick nothing: zero terms that the mean counts.
    checkSameOn(f, {logits(), labels({1, -100, 5, 3})});
  }
  SUBCASE("a one-hot of labels clamped into [0, V) fuses") {
    FusedPair f = fuseText(oneHotLoss("%clamped").c_str());
    CHECK(hasOp(*f.fused, op::SoftmaxCrossEntropy));
    checkSameOn(f, {logits(), labels({1, -100, 5, 3})});
    checkSameOn(f, {logits(), labels({4, 0, 2, 3})});
  }
}

TEST_CASE("fused attention computes the written one for any mask") {
  // Scores s = q k^T / 2 plus an additive mask of any values, or -inf where a bool mask says.
  const char *additive = R"(graph @att {
  input data %q: f32[1,3,2]
  input data %kt: f32[1,2,3]
  input data %v: f32[1,3,2]
  input data %mask: f32[3,3]
  %s = matmul(%q, %kt) : f32[1,3,3]
  %two = constant() {value = [2.0]} : f32[]
  %ss = div(%s, %two) : f32[1,3,3]
  %sm = add(%ss, %mask) : f32[1,3,3]
  %m = reduce_max(%sm) {axes = [2], keepdims = true} : f32[1,3,1]
  %z = sub(%sm, %m) : f32[1,3,3]
  %e = exp(%z) : f32[1,3,3]
  %z2 = sub(%sm, %m) : f32[1,3,3]
  %e2 = exp(%z2) : f32[1,3,3]
  %sum = reduce_sum(%e2) {axes = [2], keepdims = true} : f32[1,3,1]
  %p = div(%e, %sum) : f32[1,3,3]
  %o = matmul(%p, %v) : f32[1,3,2]
  output "o" = %o
})";
  const char *selected = R"(graph @att {
  input data %q: f32[1,3,2]
  input data %k: f32[1,3,2]
  input data %v: f32[1,3,2]
  input data %keep: bool[3,3]
  %s = matmul(%q, %k) {transpose_b = true} : f32[1,3,3]
  %ninf = constant() {value = [-inf]} : f32[]
  %sm = select(%keep, %s, %ninf) : f32[1,3,3]
  %p = softmax(%sm) : f32[1,3,3]
  %o = matmul(%p, %v) : f32[1,3,2]
  output "o" = %o
})";
  Literal q = test::lit({1, 3, 2}, {0.5, -1, 2, 0.25, -0.75, 1.5});
  Literal kt = test::lit({1, 2, 3}, {1, -2, 0.5, 0.3, 0.8, -1});
  Literal k = test::lit({1, 3, 2}, {1, 0.3, -2, 0.8, 0.5, -1});
  Literal v = test::lit({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  SUBCASE("additive: large, positive, -1e9 and fully -inf rows") {
    FusedPair f = fuseText(additive);
    REQUIRE(hasOp(*f.fused, op::Attention));
    double inf = INFINITY;
    checkSameOn(f, {q, kt, v, test::lit({3, 3}, {0, 50, -3, 1e9, -1e9, 0, 7, 0.5, -2})});
    checkSameOn(f, {q, kt, v, test::lit({3, 3}, {0, -inf, 1, -inf, -inf, -inf, -1e9, -1e9, -1e9})});
  }
  SUBCASE("select: a row kept nowhere is NaN in both") {
    FusedPair f = fuseText(selected);
    REQUIRE(hasOp(*f.fused, op::Attention));
    checkSameOn(f, {q, k, v, test::lit({3, 3}, {1, 0, 1, 0, 0, 0, 1, 1, 1}, DType::boolean)});
  }
}

TEST_CASE("fused layer norm and softmax written with duplicates compute the written ones") {
  FusedPair ln = fuseText(R"(graph @ln {
  input data %x: f32[2,4]
  %mu = reduce_mean(%x) {axes = [1], keepdims = true} : f32[2,1]
  %c = sub(%x, %mu) : f32[2,4]
  %mu2 = reduce_mean(%x) {axes = [1], keepdims = true} : f32[2,1]
  %c2 = sub(%x, %mu2) : f32[2,4]
  %sq = mul(%c2, %c2) : f32[2,4]
  %var = reduce_mean(%sq) {axes = [1], keepdims = true} : f32[2,1]
  %eps = constant() {value = [1e-5]} : f32[]
  %ve = add(%var, %eps) : f32[2,1]
  %r = rsqrt(%ve) : f32[2,1]
  %y = mul(%c, %r) : f32[2,4]
  output "y" = %y
})");
  REQUIRE(hasOp(*ln.fused, op::LayerNorm));
  // A large offset, and a constant row (variance 0: eps alone under the root).
  checkSameOn(ln, {test::lit({2, 4}, {1000.5, 1001, 999.25, 1000, 3, 3, 3, 3})});
  FusedPair sm = fuseText(R"(graph @sm {
  input data %x: f32[2,3]
  %m = reduce_max(%x) {axes = [1], keepdims = true} : f32[2,1]
  %z = sub(%x, %m) : f32[2,3]
  %e = exp(%z) : f32[2,3]
  %m2 = reduce_max(%x) {axes = [1], keepdims = true} : f32[2,1]
  %z2 = sub(%x, %m2) : f32[2,3]
  %e2 = exp(%z2) : f32[2,3]
  %s = reduce_sum(%e2) {axes = [1], keepdims = true} : f32[2,1]
  %y = div(%e, %s) : f32[2,3]
  output "y" = %y
})");
  REQUIRE(hasOp(*sm.fused, op::Softmax));
  double inf = INFINITY;
  checkSameOn(sm, {test::lit({2, 3}, {-inf, -inf, -inf, 80, -inf, 79})});
}
