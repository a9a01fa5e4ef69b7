// A model written outside kiln's tree, as a library user writes one: the train step that
// makeTrainStep makes of a loss graph, run on the CPU backend against the reference backend,
// and the errors that wrong bindings of an executable's inputs give. kiln comes in through the
// umbrella header (beside the tests' helpers), so that header compiles here with kiln's
// warnings as errors.

#include "test_util.h"

#include <kiln/kiln.h> // as a user's program includes kiln

#include <cmath>
#include <random>

using namespace kiln;

namespace {

constexpr int64_t kRows = 16;

/// A two-layer MLP's mean squared error on inputs x, y of shape [kRows, 1], as a train step.
BuiltModel mlpTrainStep(const OptimizerOptions &optimizer) {
  ModelBuilder mb("mlp");
  TensorType column{DType::f32, {kRows, 1}};
  Tensor x = mb.input("x", column), y = mb.input("y", column);
  nn::Linear hidden(mb, "hidden", 1, 8), out(mb, "out", 8, 1);
  Tensor error = out(tanh(hidden(x))) - y;
  mb.output("loss", reduceMean(error * error, {0, 1}));
  std::unique_ptr<Graph> g = mb.finish();
  makeTrainStep(*g, optimizer);
  return {std::move(g), mb.parameters()};
}

/// The losses of `steps` steps on batches of y = x^2, from the same initial weights.
std::vector<double> losses(const Backend &backend, const BuiltModel &m, int steps) {
  std::unique_ptr<Executable> exe = backend.compile(*m.graph, {});
  Bindings b;
  std::vector<Literal> init = initialValues(m.params, 1);
  for (size_t i = 0; i < m.params.size(); ++i)
    b[m.params[i].name] = test::toBuffer(init[i]);
  for (const Signature::Input &in : exe->signature().inputs)
    if (in.kind == InputKind::State)
      b[in.name] = HostBuffer(in.type);
  std::mt19937 rng(7);
  std::vector<double> out;
  for (int s = 1; s <= steps; ++s) {
    HostBuffer x(TensorType{DType::f32, {kRows, 1}}), y = x;
    for (int64_t i = 0; i < kRows; ++i) {
      double v = std::uniform_real_distribution<double>(-1, 1)(rng);
      x.setDouble(i, v);
      y.setDouble(i, v * v);
    }
    b["x"] = std::move(x);
    b["y"] = std::move(y);
    b["step"] = HostBuffer::scalarInt(s);
    exe->run(b);
    out.push_back(b.at("loss").getDouble(0));
  }
  return out;
}

/// The message of the Error a run on these bindings throws; "" when it throws none.
std::string bindingError(Executable &exe, Bindings &bindings) {
  try {
    exe.run(bindings);
  } catch (const Error &e) {
    return e.message();
  }
  return "";
}

} // namespace

TEST_CASE("makeTrainStep: a user's loss graph becomes a train step that updates its parameters "
          "in place") {
  OptimizerOptions adam;
  adam.lr = 0.03;
  BuiltModel m = mlpTrainStep(adam);
  Signature sig = signatureOf(*m.graph);
  REQUIRE(sig.findInput("step"));
  CHECK(sig.findOutput("lr"));
  CHECK(sig.findOutput("loss"));
  REQUIRE(m.params.size() == 4);
  for (const ParamSpec &p : m.params) {
    INFO(p.name);
    auto out = sig.findOutput(p.name);
    REQUIRE(out);
    CHECK(sig.outputs[*out].updates == sig.findInput(p.name));
    CHECK(sig.findInput("adam.m." + p.name));
    CHECK(sig.findInput("adam.v." + p.name));
  }
  // The backends round differently (oneDNN's kernels depend on the ISA), and at this learning
  // rate the difference grows chaotically after about 600 steps (to 3e-3 relative by step 1000
  // on AVX2 cores), so the curves are compared over the first 500, where it stays below 1e-5
  // (6e-6 measured).
  const int steps = 1000, compared = 500;
  std::vector<double> ref = losses(referenceBackend(), m, steps);
  std::vector<double> cpu = losses(cpuBackend(), m, steps);
  for (size_t i = 0; i < compared; ++i) {
    INFO("step " << i + 1 << ": reference " << ref[i] << ", cpu " << cpu[i]);
    CHECK(std::abs(cpu[i] - ref[i]) <= 1e-4 * std::abs(ref[i]));
  }
  // It learns: the last steps' mean loss is well below the first steps'.
  double first = (ref[0] + ref[1] + ref[2]) / 3;
  double last = (ref[steps - 3] + ref[steps - 2] + ref[steps - 1]) / 3;
  MESSAGE("mean loss of the first 3 steps " << first << ", of the last 3 " << last);
  CHECK(last < 0.2 * first);
}

TEST_CASE("Executable::run(Bindings): a wrong name, dtype or shape is one clear error") {
  std::unique_ptr<Graph> g = parseGraph(R"(graph @square {
  input data %x: f32[2,3]
  %y = mul(%x, %x) : f32[2,3]
  output "y" = %y
})",
                                        "square.kir");
  std::unique_ptr<Executable> exe = referenceBackend().compile(*g, {});
  Bindings misspelled{{"X", HostBuffer(TensorType{DType::f32, {2, 3}})}};
  CHECK(bindingError(*exe, misspelled) ==
        "inputs not bound: 'x' (f32[2,3]); bound, but not inputs: 'X'");
  CHECK(misspelled.count("X"));
  Bindings wrong_dtype{{"x", HostBuffer(TensorType{DType::f64, {2, 3}})}};
  CHECK(bindingError(*exe, wrong_dtype) == "input 'x' expects f32[2,3], found f64[2,3]");
  CHECK(wrong_dtype.at("x").dtype() == DType::f64); // handed back as it was
  Bindings wrong_shape{{"x", HostBuffer(TensorType{DType::f32, {3, 2}})}};
  CHECK(bindingError(*exe, wrong_shape) == "input 'x' expects f32[2,3], found f32[3,2]");
  Bindings right{{"x", HostBuffer(TensorType{DType::f32, {2, 3}})}};
  right.at("x").setDouble(4, 3);
  CHECK(bindingError(*exe, right) == "");
  CHECK(right.at("y").getDouble(4) == 9);
}
