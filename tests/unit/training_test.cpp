// Training: gradients of the whole Transformer, the optimizer's arithmetic, and learning.

#include "train_util.h"

#include "backend/reference/reference_backend.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "ir/parser.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "runtime/random_key.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"

#include <cmath>
#include <filesystem>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

TransformerConfig microConfig(int64_t vocab = 12) {
  TransformerConfig c = presetConfig("tiny");
  c.d_model = 8, c.heads = 2, c.ffn = 16, c.vocab = vocab;
  c.encoder_layers = c.decoder_layers = 1;
  return c;
}

std::vector<Literal> transformerInputs(const Graph &g, const std::vector<Literal> &params) {
  Literal src(TensorType{DType::i64, {2, 4}}, {5, 6, 7, 2, 8, 2, 0, 0});
  Literal tgt(TensorType{DType::i64, {2, 3}}, {9, 10, 2, 11, 2, 0});
  std::vector<Literal> args;
  size_t p = 0;
  for (const GraphInput &in : g.inputs()) {
    if (in.name == "src")
      args.push_back(src);
    else if (in.name == "tgt")
      args.push_back(tgt);
    else if (in.name == "seed")
      args.push_back(keyLiteral(11));
    else
      args.push_back(params[p++]);
  }
  return args;
}

std::unique_ptr<Executable> programOf(const Graph &g) {
  return referenceBackend().compile(g, CompileOptions{});
}

} // namespace

TEST_CASE("tiny Transformer: gradients of sampled coordinates of every parameter match finite "
          "differences") {
  // f64 throughout (the f32 graph promoted); h = 1e-5 balances truncation (h^2 times third
  // derivatives of order 1) and rounding (1e-16 / h); agreement to 1e-5 relative is expected.
  for (double dropout : {0.0, 0.2}) {
    INFO("dropout " << dropout);
    TransformerConfig c = microConfig();
    c.label_smoothing = 0.1;
    BuiltModel m = buildTransformer(
        c, Stage::Loss, GraphOptions{.batch = 2, .src_len = 4, .tgt_len = 3, .dropout = dropout});
    m.graph->eraseOutputs([](const GraphOutput &o) { return o.name == "logits"; });
    auto forward = m.graph->clone();
    differentiate(*m.graph, AutodiffOptions{"loss", {}});
    std::vector<Literal> params = initialValues(m.params, 5);
    std::mt19937_64 rng(1);
    for (Literal &p : params) // move biases and norms off their initial zeros and ones
      for (double &v : p.data)
        v += std::uniform_real_distribution<double>(-0.1, 0.1)(rng);
    auto args = transformerInputs(*m.graph, params);
    auto grads = reference::run(*m.graph, args, reference::Options{true});
    size_t first_param = 2 + (dropout > 0 ? 0 : 0);
    while (first_param < args.size() && m.graph->inputs()[first_param].kind != InputKind::Parameter)
      ++first_param;
    for (size_t i = 0; i < m.params.size(); ++i) {
      const Literal &grad = grads[1 + i];
      size_t arg = first_param + i;
      REQUIRE(m.graph->inputs()[arg].name == m.params[i].name);
      for (int sample = 0; sample < 2; ++sample) {
        int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(grad.size()));
        double h = 1e-5;
        auto plus = args, minus = args;
        plus[arg].data[j] += h;
        minus[arg].data[j] -= h;
        double fd = (reference::run(*forward, plus, reference::Options{true})[0].data[0] -
                     reference::run(*forward, minus, reference::Options{true})[0].data[0]) /
                    (2 * h);
        INFO(m.params[i].name << "[" << j << "]: autodiff " << grad.data[j]
                              << ", finite difference " << fd);
        CHECK(std::abs(grad.data[j] - fd) <= 1e-5 * (1 + std::abs(fd)));
      }
    }
  }
}

namespace {

/// loss = sum(c * w * w) over a parameter w of 3 elements; its gradient is 2 c w.
std::unique_ptr<Graph> quadratic() {
  return parseGraph(R"(graph @q {
  input param %w: f32[3]
  %c = constant() {shape = [3], value = [1.0, -2.0, 0.5]} : f32[3]
  %0 = mul(%w, %w) : f32[3]
  %1 = mul(%0, %c) : f32[3]
  %2 = reduce_sum(%1) {axes = [0]} : f32[]
  output "loss" = %2
})",
                    "q.kir");
}

/// Runs one optimizer step in f64; inputs by name.
std::map<std::string, Literal> optimizerStep(const OptimizerOptions &o,
                                             const std::map<std::string, Literal> &in) {
  auto g = quadratic();
  differentiate(*g, {});
  appendOptimizer(*g, o);
  std::vector<Literal> args;
  for (const GraphInput &input : g->inputs())
    args.push_back(in.at(input.name));
  return runByName(*g, args, true);
}

const std::vector<double> kW = {0.5, -1.0, 2.0}, kC = {1.0, -2.0, 0.5};

} // namespace

TEST_CASE("the trainer binds each step's dropout key: fresh masks every step, the same on resume") {
  auto g = parseGraph(R"(graph @draw {
  input data %src: i64[1,2] role source
  input data %tgt: i64[1,2] role target
  input data %step: i64[] role step
  input data %seed: i32[2] role seed
  %0 = random_uniform(%seed) {shape = [8]} : f32[8]
  %1 = reduce_sum(%0) {axes = [0]} : f32[]
  output "loss" = %1
})",
                      "draw.kir");
  auto exe = referenceBackend().compile(*g, {});
  SyntheticTask task;
  task.vocab = 10, task.batch = 1, task.src_len = 2, task.tgt_len = 2;
  Trainer trainer(*exe, task, 99);
  TrainerState state;
  trainer.initState(state);
  double first = trainer.step(state).loss, second = trainer.step(state).loss;
  CHECK(first != second);
  // What the steps drew is the uniforms under dropoutKey(99, step), computed here directly.
  for (auto [step, loss] : {std::pair{int64_t{1}, first}, {int64_t{2}, second}}) {
    CHECK(runByName(*g, {lit({1, 2}, {4, 2}, DType::i64), lit({1, 2}, {4, 2}, DType::i64),
                         Literal::scalar(static_cast<double>(step), DType::i64),
                         keyLiteral(dropoutKey(99, step))})
              .at("loss")
              .data[0] == loss);
  }
  // A resumed run (state at step 1) draws step 2's masks again.
  TrainerState resumed;
  trainer.initState(resumed);
  resumed.step = 1;
  CHECK(trainer.step(resumed).loss == second);
}

TEST_CASE("Adam and AdamW steps against an independent computation") {
  for (bool decoupled : {false, true}) {
    INFO((decoupled ? "adamw" : "adam"));
    OptimizerOptions o;
    o.kind = decoupled ? OptimizerKind::AdamW : OptimizerKind::Adam;
    o.lr = 0.1;
    o.weight_decay = 0.01;
    std::vector<double> m = {0.1, 0.2, -0.3}, v = {0.01, 0.02, 0.03};
    int64_t t = 3;
    auto out = optimizerStep(o, {{"w", lit({3}, kW)},
                                 {"adam.m.w", lit({3}, m)},
                                 {"adam.v.w", lit({3}, v)},
                                 {"step", Literal::scalar(static_cast<double>(t), DType::i64)}});
    std::vector<double> w_next(3), m_next(3), v_next(3);
    for (int i = 0; i < 3; ++i) {
      double g = 2 * kC[i] * kW[i] + (decoupled ? 0 : 0.01 * kW[i]);
      m_next[i] = 0.9 * m[i] + 0.1 * g;
      v_next[i] = 0.98 * v[i] + 0.02 * g * g;
      double m_hat = m_next[i] / (1 - std::pow(0.9, t)),
             v_hat = v_next[i] / (1 - std::pow(0.98, t));
      double base = decoupled ? kW[i] * (1 - 0.1 * 0.01) : kW[i];
      w_next[i] = base - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-9);
    }
    checkLiteral(out.at("w"), {3}, w_next, 1e-12);
    checkLiteral(out.at("adam.m.w"), {3}, m_next, 1e-12);
    checkLiteral(out.at("adam.v.w"), {3}, v_next, 1e-12);
    CHECK(!out.count("grad.w"));
  }
}

TEST_CASE("--skip-nonfinite: a step with a non-finite loss keeps the weights and the moments") {
  OptimizerOptions o;
  o.lr = 0.1;
  o.skip_nonfinite = true;
  std::vector<double> m = {0.1, 0.2, -0.3}, v = {0.01, 0.02, 0.03};
  auto step = [&](std::vector<double> w) {
    return optimizerStep(o, {{"w", lit({3}, w)},
                             {"adam.m.w", lit({3}, m)},
                             {"adam.v.w", lit({3}, v)},
                             {"step", Literal::scalar(1, DType::i64)}});
  };
  for (double bad : {INFINITY, NAN}) {
    std::vector<double> w = kW;
    w[1] = bad;
    auto out = step(w);
    CHECK(out.at("skipped").data[0] == 1);
    CHECK(out.at("w").data[0] == w[0]);
    CHECK(out.at("w").data[2] == w[2]);
    checkLiteral(out.at("adam.m.w"), {3}, m, 1e-7); // the f32 inputs, unchanged
    checkLiteral(out.at("adam.v.w"), {3}, v, 1e-7);
  }
  // A finite step is the plain update.
  auto out = step(kW);
  CHECK(out.at("skipped").data[0] == 0);
  OptimizerOptions plain = o;
  plain.skip_nonfinite = false;
  auto expected = optimizerStep(plain, {{"w", lit({3}, kW)},
                                        {"adam.m.w", lit({3}, m)},
                                        {"adam.v.w", lit({3}, v)},
                                        {"step", Literal::scalar(1, DType::i64)}});
  checkLiteral(out.at("w"), {3}, expected.at("w").data, 1e-12);
}

TEST_CASE("optimizer options that make no sense are refused, naming the option") {
  auto refused = [](auto change, std::string flag) {
    OptimizerOptions o;
    change(o);
    CHECK_THROWS_WITH(checkOptimizerOptions(o), doctest::Contains(flag.c_str()));
  };
  refused([](OptimizerOptions &o) { o.lr = NAN; }, "--lr");
  refused([](OptimizerOptions &o) { o.lr = INFINITY; }, "--lr");
  refused([](OptimizerOptions &o) { o.lr = -1; }, "--lr");
  refused([](OptimizerOptions &o) { o.warmup = 0; }, "--warmup");
  refused([](OptimizerOptions &o) { o.beta1 = 1; }, "--beta1");
  refused([](OptimizerOptions &o) { o.beta2 = NAN; }, "--beta2");
  refused([](OptimizerOptions &o) { o.eps = 0; }, "--eps");
  refused([](OptimizerOptions &o) { o.weight_decay = -0.1; }, "--weight-decay");
  refused([](OptimizerOptions &o) { o.clip_norm = 0; }, "--clip-norm");
  CHECK_NOTHROW(checkOptimizerOptions(OptimizerOptions{}));
}

TEST_CASE("a checkpoint is never written with a NaN weight; the file is left as it was") {
  std::string path = (std::filesystem::temp_directory_path() / "kiln_nan_checkpoint.safetensors");
  TrainerState good;
  good.tensors.emplace("w", HostBuffer(TensorType{DType::f32, {2}}));
  good.step = 3;
  saveTrainerState(path, good);
  auto before = std::filesystem::file_size(path);
  TrainerState bad = good;
  bad.tensors.at("w").setDouble(1, NAN);
  bad.step = 4;
  CHECK_THROWS_WITH(saveTrainerState(path, bad), doctest::Contains("w holds nan at element 1"));
  CHECK(std::filesystem::file_size(path) == before);
  CHECK(readSafetensorsMetadata(path).at("kiln.step") == "3");
  std::filesystem::remove(path);
}

TEST_CASE("SGD with momentum and global-norm clipping") {
  OptimizerOptions o;
  o.kind = OptimizerKind::Sgd;
  o.lr = 0.5;
  o.clip_norm = 1.0;
  std::vector<double> buf = {1, 0, -1};
  auto out = optimizerStep(o, {{"w", lit({3}, kW)},
                               {"sgd.momentum.w", lit({3}, buf)},
                               {"step", Literal::scalar(1, DType::i64)}});
  std::vector<double> g(3), w_next(3), buf_next(3);
  double norm = 0;
  for (int i = 0; i < 3; ++i)
    norm += std::pow(2 * kC[i] * kW[i], 2);
  double scale = std::min(1.0, 1.0 / (std::sqrt(norm) + 1e-6));
  for (int i = 0; i < 3; ++i) {
    buf_next[i] = 0.9 * buf[i] + 2 * kC[i] * kW[i] * scale;
    w_next[i] = kW[i] - 0.5 * buf_next[i];
  }
  checkLiteral(out.at("w"), {3}, w_next, 1e-12);
  checkLiteral(out.at("sgd.momentum.w"), {3}, buf_next, 1e-12);
}

TEST_CASE("the warm-up schedule at step 1, at warmup and at 10 warmup") {
  OptimizerOptions o; // d_model 512, warmup 4000
  auto lrAt = [&](int64_t step) {
    auto out = optimizerStep(o, {{"w", lit({3}, kW)},
                                 {"adam.m.w", lit({3}, {0, 0, 0})},
                                 {"adam.v.w", lit({3}, {0, 0, 0})},
                                 {"step", Literal::scalar(static_cast<double>(step), DType::i64)}});
    return out.at("lr").data[0];
  };
  double scale = 1 / std::sqrt(512.0);
  CHECK(lrAt(1) == doctest::Approx(scale * std::pow(4000.0, -1.5)).epsilon(1e-6));
  CHECK(lrAt(4000) == doctest::Approx(scale / std::sqrt(4000.0)).epsilon(1e-6));
  CHECK(lrAt(40000) == doctest::Approx(scale / std::sqrt(40000.0)).epsilon(1e-6));
  CHECK(lrAt(4000) == doctest::Approx(6.9877e-4).epsilon(1e-4)); // the paper's peak for d_model 512
}

TEST_CASE("learning: the copy task's loss falls below 0.5 within 200 steps") {
  // The task: 1 to 4 content tokens drawn from 12, then EOS. A model that has not learned to
  // copy can at best predict the content tokens uniformly, a loss of at least ln 12 = 2.48
  // on them (about 1.9 averaged with the EOS position); the first step starts above
  // ln 16 = 2.77 (3.4 observed). Below 0.5 the model puts on average 60 % of its mass on the right
  // token: it copies. Observed: 0.17 averaged over steps 191-200 (lr 3e-3, no dropout).
  TransformerConfig c = smallTransformer();
  OptimizerOptions o;
  o.lr = 3e-3;
  BuiltModel m = buildTrainStep(c, {.batch = 16, .src_len = 6, .tgt_len = 6}, o);
  auto program = programOf(*m.graph);
  Trainer trainer(*program, copyTask(c, 16), 0);
  TrainerState state = freshState(m, trainer, 0);
  auto losses = train(trainer, state, 200);
  double first = losses[0], last = 0;
  for (size_t i = losses.size() - 10; i < losses.size(); ++i)
    last += losses[i] / 10;
  MESSAGE("copy task: first loss " << first << ", mean of the last 10 " << last);
  CHECK(first > 2.0);
  CHECK(last < 0.5);
}

TEST_CASE("training is reproducible, and a resumed run equals an uninterrupted one bit for bit") {
  TransformerConfig c = smallTransformer();
  OptimizerOptions o; // the warm-up schedule, Adam
  o.d_model = c.d_model;
  o.warmup = 10;
  BuiltModel m = buildTrainStep(c, {.batch = 4, .src_len = 6, .tgt_len = 6, .dropout = 0.1}, o);
  SyntheticTask task = copyTask(c, 16);
  task.batch = 4;
  auto program = programOf(*m.graph);
  Trainer trainer(*program, task, 3);

  TrainerState a = freshState(m, trainer, 3), b = freshState(m, trainer, 3);
  auto run_a = train(trainer, a, 12);
  auto run_b = train(trainer, b, 12);
  CHECK(run_a == run_b);

  TrainerState first = freshState(m, trainer, 3);
  auto head = train(trainer, first, 5);
  std::string path =
      (std::filesystem::temp_directory_path() / "kiln_resume_test.safetensors").string();
  saveTrainerState(path, first);
  TrainerState resumed = loadTrainerState(path, program->signature());
  CHECK(resumed.step == 5);
  auto tail = train(trainer, resumed, 12);
  head.insert(head.end(), tail.begin(), tail.end());
  CHECK(head == run_a);
  for (const auto &[name, value] : a.tensors)
    CHECK(resumed.tensors.at(name) == value);
  std::filesystem::remove(path);
}
