// The Transformer on `--backend vulkan` (lavapipe here): the copy task's loss curve follows the
// CPU backend's from the same initial weights, the train step runs every node as a SPIR-V
// kernel on the device, none on the host, and a second run from the same seed is bit-identical
// (no float atomics: every reduction has a fixed order).

#include "../unit/train_util.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/gpu/vulkan/vulkan_backend.h"
#include "compiler/programs.h"
#include "runtime/trainer.h"

#include <cmath>
#include <map>

using namespace kiln;

namespace {

std::vector<double> copyTaskLosses(Executable &program, const BuiltModel &m,
                                   const TransformerConfig &c, int64_t steps) {
  Trainer trainer(program, test::copyTask(c, 8), 1);
  TrainerState state = test::freshState(m, trainer, 1);
  return test::train(trainer, state, steps);
}

} // namespace

TEST_CASE("the tiny Transformer's train step on vulkan follows the cpu backend's loss curve, "
          "with every node on the device") {
  // f32 on both backends. The SPIR-V kernels sum in other orders (group reductions are trees)
  // and take exp, tanh and erf from their own polynomials, so one step's loss agrees to about
  // 1e-7 relative; Adam amplifies such differences slowly, and over 20 steps they stay below
  // 1e-5 relative (about 1e-7 measured). Dropout draws the same numbers on both (Philox).
  TransformerConfig c = test::smallTransformer();
  OptimizerOptions o;
  o.lr = 3e-3;
  BuiltModel m = buildTrainStep(c, {.batch = 8, .src_len = 6, .tgt_len = 6, .dropout = 0.1}, o);
  auto gpu = vulkanBackend().compile(*m.graph, CompileOptions{});
  std::map<std::string, int64_t> stats;
  for (const auto &[name, value] : gpu->statistics())
    stats[name] = value;
  CHECK(stats["fallback nodes"] == 0);
  CHECK(stats["kernels"] > 100);

  const int64_t steps = 20;
  std::vector<double> cpu =
      copyTaskLosses(*cpuBackend().compile(*m.graph, CompileOptions{}), m, c, steps);
  std::vector<double> vk = copyTaskLosses(*gpu, m, c, steps);
  REQUIRE(cpu.size() == vk.size());
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("step " << i + 1 << ": cpu " << cpu[i] << ", vulkan " << vk[i]);
    double rel = std::abs(vk[i] - cpu[i]) / std::abs(cpu[i]);
    worst = std::max(worst, rel);
    CHECK(rel < 1e-5);
  }
  MESSAGE("largest relative difference of the loss over " << steps << " steps: " << worst);
  CHECK(copyTaskLosses(*gpu, m, c, steps) == vk);
  CHECK(cpu.back() < cpu.front()); // it learns, so the comparison is not of two flat lines
}
