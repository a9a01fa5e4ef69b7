// A two-layer MLP trained on a synthetic regression: the smallest complete program that uses
// kiln as a library. It records the model with the DSL, turns its loss into a training step
// (autodiff and Adam's update in the same graph), compiles that step for the CPU and runs it on
// batches drawn from y = 0.5 x^3 - x^2 + 0.3 x + 0.2, printing the loss as it falls.

#include <kiln/kiln.h>

#include <cstdio>
#include <random>

namespace {

constexpr int64_t kBatch = 128;
constexpr int64_t kHidden = 32;
constexpr int64_t kSteps = 500;
constexpr int64_t kPrintEvery = 50;

/// The function the MLP learns.
double target(double x) { return 0.5 * x * x * x - x * x + 0.3 * x + 0.2; }

/// The loss graph: inputs x and y of shape [kBatch, 1], output "loss", the mean squared error
/// of hidden = tanh(x W1^T + b1), prediction = hidden W2^T + b2.
kiln::BuiltModel buildMlp() {
  kiln::ModelBuilder mb("mlp");
  kiln::TensorType column{kiln::DType::f32, {kBatch, 1}};
  kiln::Tensor x = mb.input("x", column);
  kiln::Tensor y = mb.input("y", column);
  kiln::nn::Linear hidden(mb, "hidden", 1, kHidden);
  kiln::nn::Linear out(mb, "out", kHidden, 1);
  kiln::Tensor error = out(kiln::tanh(hidden(x))) - y;
  mb.output("loss", kiln::reduceMean(error * error, {0, 1}));
  std::unique_ptr<kiln::Graph> graph = mb.finish();
  return {std::move(graph), mb.parameters()};
}

} // namespace

int main() try {
  std::printf("kiln %s\n", KILN_VERSION_STRING);

  // Record the model, then append its gradients and Adam's update: one graph is one step.
  kiln::BuiltModel mlp = buildMlp();
  kiln::OptimizerOptions adam;
  adam.kind = kiln::OptimizerKind::Adam;
  adam.lr = 0.01;
  kiln::makeTrainStep(*mlp.graph, adam);
  std::unique_ptr<kiln::Executable> step =
      kiln::getBackend("cpu").compile(*mlp.graph, kiln::CompileOptions{});

  // Bind the inputs by name: the initial parameters, zeros for Adam's moments, and a batch.
  kiln::Bindings bindings;
  std::vector<kiln::Literal> initial = kiln::initialValues(mlp.params, /*seed=*/1);
  for (size_t i = 0; i < mlp.params.size(); ++i)
    bindings[mlp.params[i].name] = kiln::HostBuffer(initial[i].type, initial[i].toBytes());
  for (const kiln::Signature::Input &in : step->signature().inputs)
    if (in.kind == kiln::InputKind::State)
      bindings[in.name] = kiln::HostBuffer(in.type);

  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  kiln::TensorType column{kiln::DType::f32, {kBatch, 1}};
  double first = 0, loss = 0;
  for (int64_t s = 1; s <= kSteps; ++s) {
    kiln::HostBuffer x(column), y(column);
    for (int64_t i = 0; i < kBatch; ++i) {
      x.as<float>()[i] = uniform(rng);
      y.as<float>()[i] = static_cast<float>(target(x.as<float>()[i]));
    }
    bindings["x"] = std::move(x);
    bindings["y"] = std::move(y);
    bindings["step"] = kiln::HostBuffer::scalarInt(s);
    // Parameters and moments are updated in place; "loss" and "lr" are bound as outputs.
    step->run(bindings);
    loss = bindings.at("loss").getDouble(0);
    if (s == 1)
      first = loss;
    if (s == 1 || s % kPrintEvery == 0)
      std::printf("step %4lld  loss %.6f\n", static_cast<long long>(s), loss);
  }
  std::printf("final loss %.6f after %lld steps (first %.6f)\n", loss,
              static_cast<long long>(kSteps), first);
  return 0;
} catch (const kiln::Error &e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
