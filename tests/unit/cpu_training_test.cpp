// The Transformer on the CPU backend: the same training run as on the reference backend, and
// structural guards on the compiled training step (fallbacks, kernels, arena) that fail when
// the compiler regresses. No timings: those belong to benchmarks.

#include "train_util.h"

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

/// The losses of `steps` steps of the copy task, from the same initial weights.
std::vector<double> copyTaskLosses(const Backend &backend, const BuiltModel &m,
                                   const TransformerConfig &c, int64_t steps) {
  auto program = backend.compile(*m.graph, CompileOptions{});
  Trainer trainer(*program, test::copyTask(c, 8), 1);
  TrainerState state = test::freshState(m, trainer, 1);
  return test::train(trainer, state, steps);
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
  TransformerConfig c = test::smallTransformer();
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

TEST_CASE("the tiny Transformer's programs on cpu: no fallback, and no more kernels or memory "
          "than today") {
  // Guards, not timings: batch 4, lengths 8, dropout 0.1, Adam. The bounds are the figures this
  // compiler reaches now (kernels after fuse-elementwise, distinct kernels after sharing, the
  // arena after packing and in-place reuse); a change that needs more fails here and says so.
  struct Bound {
    const char *stage;
    int64_t kernels, distinct, arena_bytes;
  };
  TransformerConfig c = presetConfig("tiny");
  GraphOptions shape{.batch = 4, .src_len = 8, .tgt_len = 8, .dropout = 0.1};
  OptimizerOptions o;
  o.d_model = c.d_model;
  for (const Bound &bound : {Bound{"loss", 170, 53, 136192}, Bound{"train", 540, 103, 2582020}}) {
    std::string stage = bound.stage;
    INFO(stage);
    BuiltModel m = stage == "loss" ? buildLoss(c, shape) : buildTrainStep(c, shape, o);
    auto program = cpuBackend().compile(*m.graph, CompileOptions{});
    std::map<std::string, int64_t> stats = statisticsOf(*program);
    for (const auto &[name, value] : stats)
      MESSAGE(stage << ": " << name << " = " << value);
    CHECK(stats["fallback nodes"] == 0);
    CHECK(stats["kernels"] <= bound.kernels);
    CHECK(stats["distinct kernels"] <= bound.distinct);
    CHECK(stats["arena bytes"] <= bound.arena_bytes);
    if (stage == "train") // every parameter and both Adam moments of each, in place
      CHECK(stats["outputs written into inputs"] == 3 * static_cast<int64_t>(m.params.size()));
  }
}
