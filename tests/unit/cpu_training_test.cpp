// The Transformer on the CPU backend: the same training run as on the reference backend, and
// structural guards on the compiled training step (fallbacks, kernels, arena) that fail when
// the compiler regresses. No timings: those belong to benchmarks.

#include "test_util.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/reference/reference_backend.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "runtime/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

using namespace kiln;

namespace {

TransformerConfig smallTiny() {
  TransformerConfig c = presetConfig("tiny");
  c.d_model = 32, c.heads = 2, c.ffn = 64, c.vocab = 16;
  c.encoder_layers = c.decoder_layers = 1;
  return c;
}

/// The losses of `steps` steps of the copy task, from the same initial weights.
std::vector<double> copyTaskLosses(const Backend &backend, const BuiltModel &m,
                                   const TransformerConfig &c, int64_t steps) {
  auto program = backend.compile(*m.graph, CompileOptions{});
  SyntheticTask task;
  task.vocab = c.vocab;
  task.batch = 8, task.src_len = 6, task.tgt_len = 6;
  Trainer trainer(*program, task, 1);
  TrainerState state;
  std::vector<Literal> init = initialValues(m.params, 1);
  for (size_t i = 0; i < m.params.size(); ++i)
    state.tensors.emplace(m.params[i].name, test::toBuffer(init[i]));
  trainer.initState(state);
  std::vector<double> losses;
  while (state.step < steps)
    losses.push_back(trainer.step(state).loss);
  return losses;
}

std::map<std::string, int64_t> statisticsOf(const Executable &e) {
  std::map<std::string, int64_t> s;
  for (const auto &[name, value] : e.statistics())
    s[name] = value;
  return s;
}

} // namespace

TEST_CASE("50 copy-task steps on cpu follow the reference backend's loss curve") {
  // f32 on both backends; they differ in summation order (vectorised and parallel loops) and
  // in exp and tanh rounding, so one step's loss agrees to about 1e-6 relative. Adam amplifies
  // such differences slowly; over 50 steps they stay below 1e-3 relative.
  TransformerConfig c = smallTiny();
  OptimizerOptions o;
  o.lr = 3e-3;
  BuiltModel m = buildTrainStep(c, {.batch = 8, .src_len = 6, .tgt_len = 6, .dropout = 0.1}, o);
  std::vector<double> ref = copyTaskLosses(referenceBackend(), m, c, 50);
  std::vector<double> cpu = copyTaskLosses(cpuBackend(), m, c, 50);
  REQUIRE(ref.size() == cpu.size());
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("step " << i + 1 << ": reference " << ref[i] << ", cpu " << cpu[i]);
    double rel = std::abs(cpu[i] - ref[i]) / std::abs(ref[i]);
    worst = std::max(worst, rel);
    CHECK(rel < 1e-3);
  }
  MESSAGE("largest relative difference of the loss over 50 steps: " << worst);
  CHECK(ref.back() < ref.front()); // it learns, so the comparison is not of two flat lines
}

TEST_CASE("the tiny Transformer's programs on cpu: no fallback node") {
  TransformerConfig c = presetConfig("tiny");
  GraphOptions shape{.batch = 4, .src_len = 8, .tgt_len = 8, .dropout = 0.1};
  OptimizerOptions o;
  o.d_model = c.d_model;
  for (const char *stage : {"loss", "train"}) {
    INFO(stage);
    BuiltModel m = std::string(stage) == "loss" ? buildLoss(c, shape) : buildTrainStep(c, shape, o);
    auto program = cpuBackend().compile(*m.graph, CompileOptions{});
    std::map<std::string, int64_t> stats = statisticsOf(*program);
    for (const auto &[name, value] : stats)
      MESSAGE(stage << ": " << name << " = " << value);
    CHECK(stats["fallback nodes"] == 0);
  }
}

// A measurement, not a check (run with --no-skip): the tiny train step at batch 16, lengths 16,
// compiled without and with its fusion groups, without and with shared kernels.
TEST_CASE("bench: compiling the tiny train step with groups and shared kernels" * doctest::skip()) {
  TransformerConfig cfg = presetConfig("tiny");
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  BuiltModel m = buildTrainStep(cfg, {.batch = 16, .src_len = 16, .tgt_len = 16}, opt);
  std::unique_ptr<Graph> ungrouped = m.graph->clone();
  for (const auto &n : ungrouped->nodes())
    n->group = -1;
  for (bool groups : {false, true})
    for (bool share : {false, true}) {
      const Graph &g = groups ? *m.graph : *ungrouped;
      auto start = std::chrono::steady_clock::now();
      auto exe = cpuBackend().compile(g, {.use_cache = false, .share_kernels = share});
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::map<std::string, int64_t> stats;
      for (const auto &[key, value] : exe->statistics())
        stats[key] = value;
      std::vector<HostBuffer> args;
      for (const Literal &l : test::randomLiterals(g, 1))
        args.push_back(test::toBuffer(l));
      std::vector<double> times;
      for (int r = 0; r < 5; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        exe->run(args);
        times.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(times.begin(), times.end());
      MESSAGE("groups " << groups << ", shared " << share << ": " << g.nodes().size() << " nodes, "
                        << stats["fused groups"] << " groups, " << stats["kernels"]
                        << " kernel steps, " << stats["distinct kernels"]
                        << " compiled kernels, compile " << s << " s, step " << times[2] * 1e3
                        << " ms, arena " << stats["arena bytes"] << " B, no reuse "
                        << stats["no reuse bytes"] << " B");
    }
}
