// Every VJP against central finite differences in f64. The table below walks the op table: a
// differentiable op without a sample here fails the test.

#include "test_util.h"

#include "ir/parser.h"
#include "passes/autodiff.h"

#include <cmath>
#include <map>
#include <random>

using namespace kiln;

namespace {

/// A sample: graph inputs (name: type) and one node over them. Inputs named p* are drawn
/// positive; others are drawn away from zero with a random sign, so kinks (relu, abs) and ties
/// (max, min) are never straddled by the finite difference. Inputs named k* are held constant
/// (attention's additive mask gets no gradient).
struct Sample {
  std::string inputs; // "%a: f32[2,3], %b: f32[3]"
  std::string node;   // "add(%a, %b) : f32[2,3]"
};

const std::multimap<std::string_view, Sample> kSamples = {
    {op::Neg.name, {"%a: f32[2,3]", "neg(%a) : f32[2,3]"}},
    {op::Exp.name, {"%a: f32[2,3]", "exp(%a) : f32[2,3]"}},
    {op::Log.name, {"%pa: f32[2,3]", "log(%pa) : f32[2,3]"}},
    {op::Sqrt.name, {"%pa: f32[4]", "sqrt(%pa) : f32[4]"}},
    {op::Rsqrt.name, {"%pa: f32[4]", "rsqrt(%pa) : f32[4]"}},
    {op::Tanh.name, {"%a: f32[2,3]", "tanh(%a) : f32[2,3]"}},
    {op::Relu.name, {"%a: f32[2,3]", "relu(%a) : f32[2,3]"}},
    {op::Gelu.name, {"%a: f32[2,3]", "gelu(%a) : f32[2,3]"}},
    {op::Gelu.name, {"%a: f32[2,3]", "gelu(%a) {approximate = \"tanh\"} : f32[2,3]"}},
    {op::Sigmoid.name, {"%a: f32[2,3]", "sigmoid(%a) : f32[2,3]"}},
    {op::Abs.name, {"%a: f32[2,3]", "abs(%a) : f32[2,3]"}},
    {op::AllReduce.name, {"%a: f32[2,3]", "all_reduce(%a) : f32[2,3]"}},
    {op::Cast.name, {"%a: f32[2,3]", "cast(%a) {dtype = f64} : f64[2,3]"}},
    {op::Add.name, {"%a: f32[2,3], %b: f32[3]", "add(%a, %b) : f32[2,3]"}},
    {op::Add.name, {"%a: f32[2,1,3], %b: f32[4,1]", "add(%a, %b) : f32[2,4,3]"}},
    {op::Sub.name, {"%a: f32[2,1], %b: f32[2,3]", "sub(%a, %b) : f32[2,3]"}},
    {op::Mul.name, {"%a: f32[2,3], %b: f32[2,3]", "mul(%a, %b) : f32[2,3]"}},
    {op::Mul.name, {"%a: f32[3,1], %b: f32[]", "mul(%a, %b) : f32[3,1]"}},
    {op::Div.name, {"%a: f32[2,3], %pb: f32[1,3]", "div(%a, %pb) : f32[2,3]"}},
    {op::Pow.name, {"%pa: f32[2,3], %b: f32[3]", "pow(%pa, %b) : f32[2,3]"}},
    {op::Max.name, {"%a: f32[2,3], %b: f32[3]", "max(%a, %b) : f32[2,3]"}},
    {op::Min.name, {"%a: f32[2,3], %b: f32[2,1]", "min(%a, %b) : f32[2,3]"}},
    {op::Select.name, {"%m: bool[2,3], %a: f32[3], %b: f32[2,3]", "select(%m, %a, %b) : f32[2,3]"}},
    {op::ReduceSum.name, {"%a: f32[2,3,2]", "reduce_sum(%a) {axes = [0, -1]} : f32[3]"}},
    {op::ReduceSum.name,
     {"%a: f32[2,3]", "reduce_sum(%a) {axes = [1], keepdims = true} : f32[2,1]"}},
    {op::ReduceMean.name, {"%a: f32[2,3,2]", "reduce_mean(%a) {axes = [1]} : f32[2,2]"}},
    {op::ReduceMax.name,
     {"%a: f32[2,3]", "reduce_max(%a) {axes = [1], keepdims = true} : f32[2,1]"}},
    {op::Reshape.name, {"%a: f32[2,3]", "reshape(%a) {shape = [3, 2]} : f32[3,2]"}},
    {op::Transpose.name, {"%a: f32[2,3,4]", "transpose(%a) {perm = [2, 0, 1]} : f32[4,2,3]"}},
    {op::BroadcastTo.name, {"%a: f32[3,1]", "broadcast_to(%a) {shape = [2, 3, 4]} : f32[2,3,4]"}},
    {op::Slice.name,
     {"%a: f32[4,5]", "slice(%a) {limit = [4, 5], start = [1, 0], stride = [2, 2]} : f32[2,3]"}},
    {op::Pad.name,
     {"%a: f32[2,3]", "pad(%a) {high = [1, 0], interior = [0, 1], low = [0, 2]} : f32[3,7]"}},
    {op::Concat.name, {"%a: f32[2,1], %b: f32[2,3]", "concat(%a, %b) {axis = 1} : f32[2,4]"}},
    {op::Gather.name, {"%a: f32[4,3], %i: i64[2,2]", "gather(%a, %i) : f32[2,2,3]"}},
    // Start indices are drawn in [0, 4), so some corners are clamped.
    {op::DynamicSlice.name,
     {"%a: f32[5,3], %i: i64[], %j: i64[]",
      "dynamic_slice(%a, %i, %j) {sizes = [2, 2]} : f32[2,2]"}},
    {op::DynamicUpdateSlice.name,
     {"%a: f32[5,3], %u: f32[2,3], %i: i64[], %j: i64[]",
      "dynamic_update_slice(%a, %u, %i, %j) : f32[5,3]"}},
    {op::Gather.name,
     {"%a: f32[2,4], %i: i64[2]", "gather(%a, %i) {axis = 1, batch_dims = 1} : f32[2]"}},
    {op::ScatterAdd.name,
     {"%a: f32[4,3], %i: i64[2], %b: f32[2,3]", "scatter_add(%a, %i, %b) : f32[4,3]"}},
    {op::Matmul.name, {"%a: f32[2,3], %b: f32[3,4]", "matmul(%a, %b) : f32[2,4]"}},
    {op::Matmul.name,
     {"%a: f32[2,2,3], %b: f32[4,3]", "matmul(%a, %b) {transpose_b = true} : f32[2,2,4]"}},
    {op::Matmul.name,
     {"%a: f32[3,2], %b: f32[2,1,3,4]", "matmul(%a, %b) {transpose_a = true} : f32[2,1,2,4]"}},
    {op::Matmul.name,
     {"%a: f32[3,2], %b: f32[4,3]",
      "matmul(%a, %b) {transpose_a = true, transpose_b = true} : f32[2,4]"}},
    {op::Softmax.name, {"%a: f32[2,3]", "softmax(%a) : f32[2,3]"}},
    {op::Softmax.name, {"%a: f32[3,2]", "softmax(%a) {axis = 0} : f32[3,2]"}},
    {op::LayerNorm.name, {"%a: f32[2,4]", "layer_norm(%a) : f32[2,4]"}},
    {op::LayerNorm.name,
     {"%a: f32[2,4], %b: f32[4], %c: f32[4]", "layer_norm(%a, %b, %c) : f32[2,4]"}},
    {op::LayerNorm.name,
     {"%a: f32[2,2,3], %b: f32[2,3]", "layer_norm(%a, %b) {axis = 1} : f32[2,2,3]"}},
    {op::Attention.name,
     {"%a: f32[2,3,4], %b: f32[2,5,4], %c: f32[2,5,2]",
      "attention(%a, %b, %c) {scale = 0.5} : f32[2,3,2]"}},
    {op::Attention.name,
     {"%a: f32[2,3,4], %b: f32[2,3,4], %c: f32[2,3,4], %m: bool[3,3]",
      "attention(%a, %b, %c, %m) {causal = true, scale = 0.7} : f32[2,3,4]"}},
    {op::Attention.name,
     {"%a: f32[1,2,3,4], %b: f32[1,2,3,4], %c: f32[1,2,3,4], %k: f32[1,1,1,3]",
      "attention(%a, %b, %c, %k) {scale = 0.5} : f32[1,2,3,4]"}},
    {op::Attention.name,
     {"%a: f32[2,3,4], %b: f32[2,3,4], %c: f32[2,3,2], %s: i32[2]",
      "attention(%a, %b, %c, %s) {dropout = 0.3, dropout_offset = 5, scale = 0.5} : f32[2,3,2]"}},
    {op::SoftmaxCrossEntropy.name,
     {"%a: f32[2,3,5], %t: i64[2,3]", "softmax_cross_entropy(%a, %t) {ignore_index = 0} : f32[]"}},
    {op::SoftmaxCrossEntropy.name,
     {"%a: f32[4,5], %t: i64[4]",
      "softmax_cross_entropy(%a, %t) {ignore_index = 1, label_smoothing = 0.1} : f32[]"}},
};

/// Random inputs: floats as described above, ids in [0, 4) (labels include the ignored ones),
/// masks with the first key always visible.
std::vector<Literal> sampleInputs(const Graph &g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mag(0.2, 1.0);
  std::vector<Literal> out;
  for (const GraphInput &in : g.inputs()) {
    Literal lit(in.value->type);
    for (int64_t i = 0; i < lit.size(); ++i) {
      if (isFloat(lit.type.dtype))
        lit.data[i] = in.name[0] == 'p' ? mag(rng) : (rng() & 1 ? 1 : -1) * mag(rng);
      else if (lit.type.dtype == DType::boolean)
        lit.data[i] = (i % lit.shape().back()) != 0 && (rng() & 1);
      else
        lit.data[i] = static_cast<double>(rng() % 4);
    }
    out.push_back(lit);
  }
  return out;
}

/// loss = sum(result * probe) for a fixed random probe, so every output element matters.
std::unique_ptr<Graph> withLoss(const Sample &s) {
  std::string text = "graph @sample {\n";
  for (size_t pos = 0; pos < s.inputs.size();) {
    size_t comma = s.inputs.find(", %", pos);
    std::string one =
        s.inputs.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    text += "  input data " + one + "\n";
    pos = comma == std::string::npos ? s.inputs.size() : comma + 2;
  }
  text += "  %0 = " + s.node + "\n  output \"y\" = %0\n}\n";
  auto g = parseGraph(text, "sample.kir");
  Builder b(*g);
  Value *y = g->outputs()[0].value;
  std::mt19937_64 rng(99);
  std::vector<double> probe(y->type.numElements());
  for (double &p : probe)
    p = std::uniform_real_distribution<double>(-1, 1)(rng);
  Value *weighted = b.create(op::Mul, {y, b.constant(probe, y->type.dtype, y->type.shape)});
  IntList axes;
  for (int64_t d = 0; d < y->type.rank(); ++d)
    axes.push_back(d);
  g->eraseOutputs([](const GraphOutput &) { return true; });
  g->addOutput("loss", b.create(op::ReduceSum, {weighted}, {{"axes", axes}}));
  return g;
}

double lossAt(const Graph &g, const std::vector<Literal> &inputs) {
  return reference::run(g, inputs, reference::Options{true})[0].data[0];
}

} // namespace

/// Checks autodiff's gradient of the float inputs of `g` (but k*) against central differences.
void checkGradients(const Graph &forward, const std::vector<Literal> &inputs, double h,
                    double tol) {
  auto g = forward.clone();
  std::vector<std::string> wrt;
  auto differentiated = [](const GraphInput &in) {
    return isFloat(in.value->type.dtype) && in.name[0] != 'k';
  };
  for (const GraphInput &in : g->inputs())
    if (differentiated(in))
      wrt.push_back(in.name);
  differentiate(*g, AutodiffOptions{"loss", wrt});
  auto analytic = reference::run(*g, inputs, reference::Options{true});
  size_t k = 1; // outputs: loss, then grad.<input> in wrt order
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!differentiated(forward.inputs()[i]))
      continue;
    const Literal &grad = analytic[k++];
    REQUIRE(grad.shape() == inputs[i].shape());
    for (int64_t j = 0; j < inputs[i].size(); ++j) {
      std::vector<Literal> plus = inputs, minus = inputs;
      plus[i].data[j] += h;
      minus[i].data[j] -= h;
      double fd = (lossAt(forward, plus) - lossAt(forward, minus)) / (2 * h);
      INFO("input " << forward.inputs()[i].name << " element " << j << ": autodiff " << grad.data[j]
                    << ", finite difference " << fd);
      CHECK(std::abs(grad.data[j] - fd) <= tol * (1 + std::abs(fd)));
    }
  }
}

TEST_CASE("every differentiable op: VJP against central finite differences in f64") {
  // Tolerance: central differences in f64 with h = 1e-6 have truncation error O(h^2) and
  // rounding error O(eps / h) ~ 1e-10, so 1e-6 relative leaves a wide margin.
  for (const OpDef *op : allOps()) {
    if (op->differentiable != Differentiable::Yes)
      continue;
    INFO(op->name);
    auto range = kSamples.equal_range(op->name);
    REQUIRE_MESSAGE(range.first != range.second,
                    "differentiable op has no gradient sample in gradient_test.cpp");
    for (auto it = range.first; it != range.second; ++it) {
      INFO(it->second.node);
      auto g = withLoss(it->second);
      checkGradients(*g, sampleInputs(*g, 7), 1e-6, 1e-6);
    }
  }
}

TEST_CASE("autodiff: fan-out adds up, unused inputs get zeros, integer inputs are refused") {
  auto g = parseGraph(R"(graph @g {
  input param %x: f32[3]
  input param %unused: f32[2]
  input data %i: i64[3]
  %0 = mul(%x, %x) : f32[3]
  %1 = add(%0, %x) : f32[3]
  %2 = reduce_sum(%1) {axes = [0]} : f32[]
  output "loss" = %2
})",
                      "g.kir");
  auto names = differentiate(*g, {});
  CHECK(names == std::vector<std::string>{"grad.x", "grad.unused"});
  Literal x(TensorType{DType::f32, {3}}, {1, 2, 3});
  auto out = reference::run(*g, std::vector<Literal>{x, Literal(TensorType{DType::f32, {2}}),
                                                     Literal(TensorType{DType::i64, {3}})});
  CHECK(out[1].data == std::vector<double>{3, 5, 7}); // 2x + 1
  CHECK(out[2].data == std::vector<double>{0, 0});
  // The zero gradient is a constant: nothing else was computed for it.
  CHECK(g->findOutput("grad.unused")->value->def->is(op::Constant));
  auto h = parseGraph(R"(graph @g {
  input data %i: i64[3]
  %0 = cast(%i) {dtype = f32} : f32[3]
  %1 = reduce_sum(%0) {axes = [0]} : f32[]
  output "loss" = %1
})",
                      "h.kir");
  CHECK_THROWS_WITH_AS(
      differentiate(*h, {"loss", {"i"}}),
      doctest::Contains("cannot differentiate with respect to '%i' of type i64[3]"), Error);
  auto v = parseGraph(R"(graph @g {
  input param %x: f32[3]
  output "y" = %x
})",
                      "v.kir");
  CHECK_THROWS_WITH_AS(differentiate(*v, {}),
                       doctest::Contains("has no scalar output to differentiate"), Error);
}

TEST_CASE("autodiff at the edges: pow at zero, select past an infinity, as PyTorch") {
  auto g = parseGraph(R"(graph @g {
  input param %x: f32[3]
  input param %p: f32[3]
  input param %b: f32[2]
  %y = pow(%x, %p) : f32[3]
  %s = reduce_sum(%y) {axes = [0]} : f32[]
  %c = constant() {dtype = bool, shape = [2], value = [1.0, 0.0]} : bool[2]
  %a = constant() {shape = [2], value = [0.0, 5.0]} : f32[2]
  %sel = select(%c, %a, %b) : f32[2]
  %l = log(%sel) : f32[2]
  %t = reduce_sum(%l) {axes = [0]} : f32[]
  %loss = add(%s, %t) : f32[]
  output "loss" = %loss
})",
                      "edges.kir");
  differentiate(*g, {});
  auto out = reference::run(*g,
                            std::vector<Literal>{Literal(TensorType{DType::f32, {3}}, {0, 0, 2}),
                                                 Literal(TensorType{DType::f32, {3}}, {2, 0, 3}),
                                                 Literal(TensorType{DType::f32, {2}}, {3, 2})},
                            reference::Options{true});
  // d/dx x^p = p x^(p-1): 0 at (0, 2), 0 at p = 0 (not 0 * inf), 12 at (2, 3).
  CHECK(out[1].data == std::vector<double>{0, 0, 12});
  // d/dp x^p = x^p log x: 0 where x = 0 (not nan), 8 log 2 at (2, 3).
  CHECK(out[2].data[0] == 0);
  CHECK(out[2].data[1] == 0);
  CHECK(out[2].data[2] == doctest::Approx(8 * std::log(2.0)));
  // The unselected branch of select gets 0, even where log's gradient is infinite.
  CHECK(out[3].data == std::vector<double>{0, 0.5});
}

TEST_CASE("integer results saturate, and NaN becomes 0") {
  CHECK(roundTo(NAN, DType::i32) == 0);
  CHECK(roundTo(INFINITY, DType::i32) == 2147483647.0);
  CHECK(roundTo(-INFINITY, DType::i64) == -9223372036854775808.0);
  CHECK(roundTo(-2.7, DType::i64) == -2);
}
