// The fused ops and their fused backward ops compute what the same computation written with
// primitives computes: values and gradients agree in f64.

#include "test_util.h"

#include "frontend/nn.h"
#include "frontend/transformer.h"
#include "passes/autodiff.h"

#include <functional>
#include <random>

using namespace kiln;

namespace {

using Body = std::function<Tensor(ModelBuilder &, const std::vector<Tensor> &)>;

/// loss = sum(body(inputs) * probe), differentiated with respect to every float input.
std::vector<Literal> lossAndGradients(const std::vector<TensorType> &types, const Body &body,
                                      const std::vector<Literal> &values) {
  ModelBuilder mb("g");
  std::vector<Tensor> inputs;
  std::vector<std::string> wrt;
  for (size_t i = 0; i < types.size(); ++i) {
    std::string name = "in" + std::to_string(i);
    inputs.push_back(mb.input(name, types[i]));
    if (isFloat(types[i].dtype))
      wrt.push_back(name);
  }
  Tensor y = body(mb, inputs);
  std::mt19937_64 rng(5);
  std::vector<double> probe(y.type().numElements());
  for (double &p : probe)
    p = std::uniform_real_distribution<double>(-1, 1)(rng);
  IntList axes;
  for (int64_t d = 0; d < y.rank(); ++d)
    axes.push_back(d);
  mb.output("loss", reduceSum(y * constant(mb, probe, y.shape(), y.dtype()), axes));
  auto g = mb.finish();
  differentiate(*g, AutodiffOptions{"loss", wrt});
  return reference::run(*g, values, reference::Options{true});
}

std::vector<Literal> randomValues(const std::vector<TensorType> &types, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Literal> out;
  for (const TensorType &t : types) {
    Literal lit(t);
    for (double &v : lit.data)
      v = isFloat(t.dtype) ? std::uniform_real_distribution<double>(-1.5, 1.5)(rng)
                           : static_cast<double>(rng() % 5);
    out.push_back(lit);
  }
  return out;
}

void checkSame(const std::vector<TensorType> &types, const Body &fused, const Body &primitive) {
  auto values = randomValues(types, 17);
  auto a = lossAndGradients(types, fused, values), b = lossAndGradients(types, primitive, values);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO((i == 0 ? std::string("loss") : "gradient of input " + std::to_string(i - 1)));
    REQUIRE(a[i].shape() == b[i].shape());
    for (int64_t j = 0; j < a[i].size(); ++j)
      CHECK(a[i].data[j] == doctest::Approx(b[i].data[j]).epsilon(1e-10));
  }
}

Tensor fusedOp(ModelBuilder &mb, OpHandle op, const std::vector<Tensor> &operands,
               AttrMap attrs = {}) {
  std::vector<Value *> values;
  for (const Tensor &t : operands)
    values.push_back(t.value());
  return Tensor(&mb, mb.create(op, values, std::move(attrs), std::source_location::current()));
}

} // namespace

TEST_CASE("softmax and softmax_grad equal softmax written out") {
  checkSame(
      {TensorType{DType::f32, {2, 3, 5}}},
      [](ModelBuilder &mb, const std::vector<Tensor> &in) {
        return fusedOp(mb, op::Softmax, {in[0]});
      },
      [](ModelBuilder &, const std::vector<Tensor> &in) { return nn::softmax(in[0]); });
}

TEST_CASE("layer_norm and layer_norm_grad equal LayerNorm written out") {
  std::vector<TensorType> types = {TensorType{DType::f32, {2, 3, 4}}, TensorType{DType::f32, {4}},
                                   TensorType{DType::f32, {4}}};
  checkSame(
      types,
      [](ModelBuilder &mb, const std::vector<Tensor> &in) {
        return fusedOp(mb, op::LayerNorm, in);
      },
      [](ModelBuilder &, const std::vector<Tensor> &in) {
        Tensor mean = reduceMean(in[0], {-1}, true);
        Tensor centered = in[0] - mean;
        Tensor var = reduceMean(centered * centered, {-1}, true);
        return centered * rsqrt(var + 1e-5) * in[1] + in[2];
      });
}

TEST_CASE("attention and attention_grad equal attention written out, with masks and causal") {
  std::vector<TensorType> types = {
      TensorType{DType::f32, {2, 2, 4, 3}}, TensorType{DType::f32, {2, 2, 5, 3}},
      TensorType{DType::f32, {2, 2, 5, 3}}, TensorType{DType::i64, {2, 5}}};
  auto primitive = [](bool causal) {
    return [causal](ModelBuilder &mb, const std::vector<Tensor> &in) {
      Tensor scores = matmul(in[0], transpose(in[1], {0, 1, 3, 2})) * 0.4;
      scores = scores + paddingMask(in[3], 0);
      if (causal)
        scores = scores + slice(causalMask(mb, 5), {0, 0}, {4, 5});
      return matmul(nn::softmax(scores), in[2]);
    };
  };
  auto fused = [](bool causal) {
    return [causal](ModelBuilder &mb, const std::vector<Tensor> &in) {
      return fusedOp(mb, op::Attention, {in[0], in[1], in[2], paddingMask(in[3], 0)},
                     {{"scale", 0.4}, {"causal", causal}});
    };
  };
  checkSame(types, fused(false), primitive(false));
  checkSame(types, fused(true), primitive(true));
}

TEST_CASE("softmax_cross_entropy and its grad equal the loss written out, with PAD and smoothing") {
  std::vector<TensorType> types = {TensorType{DType::f32, {2, 3, 5}},
                                   TensorType{DType::i64, {2, 3}}};
  for (double smoothing : {0.0, 0.1}) {
    checkSame(
        types,
        [smoothing](ModelBuilder &mb, const std::vector<Tensor> &in) {
          return fusedOp(mb, op::SoftmaxCrossEntropy, {in[0], in[1]},
                         {{"ignore_index", int64_t{0}}, {"label_smoothing", smoothing}});
        },
        [smoothing](ModelBuilder &, const std::vector<Tensor> &in) {
          return crossEntropy(in[0], in[1], 0, smoothing);
        });
  }
}
