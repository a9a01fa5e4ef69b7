// Fusion groups on the CPU backend: each group of fuse-elementwise runs as one kernel, and its
// outputs match the reference interpreter (random numbers bit for bit), in run() and in
// runInPlace(), with the plan checked and dead buffers poisoned.

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_executable.h"
#include "backend/kernel/lower.h"
#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "test_util.h"

#include <cmath>
#include <random>
#include <sstream>

using namespace kiln;
using namespace kiln::test;

namespace {

/// The graph after fuse-elementwise.
std::unique_ptr<Graph> fused(std::string_view text) {
  auto g = parseGraph(text, "fusion.kir");
  PassManager pm;
  pm.addPass(lookupPass("fuse-elementwise")->create({}));
  std::ostringstream unused;
  pm.run(*g, unused);
  return g;
}

/// Seeded inputs: floats in [-2, 2), integers (seeds) small and positive.
std::vector<Literal> inputsFor(const Graph &g) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> real(-2, 2);
  std::vector<Literal> out;
  for (const GraphInput &in : g.inputs()) {
    Literal l(in.value->type);
    for (double &v : l.data)
      v = isFloat(l.type.dtype) ? real(rng) : 5;
    l.roundToDType();
    out.push_back(std::move(l));
  }
  return out;
}

/// Runs the grouped graph on cpu (planned and poisoned, run and runInPlace) against the
/// reference; `exact` asks for identical bits. Returns the number of groups that ran fused.
int64_t checkGroups(const Graph &g, bool exact = false) {
  std::vector<Literal> inputs = inputsFor(g);
  std::vector<Literal> want = reference::run(g, inputs);
  auto exe = cpu::compileGraph(g, {.poison_dead_buffers = true});
  std::vector<std::string> problems = cpu::checkExecutablePlan(*exe);
  for (const std::string &p : problems)
    INFO(p);
  CHECK(problems.empty());
  CHECK(stat(*exe, "fallback nodes") == 0);
  for (bool in_place : {false, true}) {
    INFO("in place " << in_place);
    std::vector<HostBuffer> args;
    for (const Literal &l : inputs)
      args.push_back(toBuffer(l));
    std::vector<HostBuffer> got = in_place ? exe->runInPlace(args) : exe->run(args);
    for (size_t k = 0; k < want.size(); ++k) {
      if (auto u = exe->signature().outputs[k].updates; u && in_place)
        got[k] = args[*u];
      Literal have = toLiteral(got[k]);
      REQUIRE(have.type == want[k].type);
      for (int64_t i = 0; i < have.size(); ++i) {
        double a = have.data[i], b = want[k].data[i];
        INFO("output " << g.outputs()[k].name << " element " << i << ": cpu " << a << ", reference "
                       << b);
        if (exact || !isFloat(have.type.dtype))
          CHECK(a == b);
        else
          CHECK(std::abs(a - b) <= 1e-5 * (1 + std::abs(b)));
      }
    }
  }
  return stat(*exe, "fused groups");
}

} // namespace

TEST_CASE("cpu fusion: bias + gelu + residual is one kernel") {
  auto g = fused(R"(graph @bias_gelu_residual {
  input data %x: f32[4,8]
  input param %b: f32[8]
  input data %r: f32[4,8]
  %0 = add(%x, %b) : f32[4,8]
  %1 = gelu(%0) : f32[4,8]
  %2 = add(%1, %r) : f32[4,8]
  output "y" = %2
})");
  CHECK(checkGroups(*g) == 1);
  std::string text = kernel::printKernels(*g);
  CHECK(text.find("kernel @group_0(%in0: f32[4,8] read, %in1: f32[1,8] read, %in2: f32[4,8] "
                  "read, %out0: f32[4,8] write)") != std::string::npos);
  CHECK(text.find("kernel @add_") == std::string::npos);
}

TEST_CASE("cpu fusion: dropout's random numbers are the reference's, bit for bit") {
  auto g = fused(R"(graph @dropout {
  input data %x: f32[4,2,8]
  input data %seed: i32[2]
  %0 = random_uniform(%seed) {shape = [4, 2, 8], offset = 5} : f32[4,2,8]
  %1 = constant() {value = [0.3]} : f32[]
  %2 = ge(%0, %1) : bool[4,2,8]
  %3 = constant() {value = [0.0]} : f32[]
  %4 = select(%2, %x, %3) : f32[4,2,8]
  %5 = iota() {shape = [4, 2, 8], axis = 1, dtype = f32} : f32[4,2,8]
  %6 = add(%4, %5) : f32[4,2,8]
  output "y" = %6
  output "r" = %0
})");
  CHECK(checkGroups(*g, true) == 1);
}

TEST_CASE("cpu fusion: a reduction root, over all axes or some, with broadcast operands") {
  auto squares = fused(R"(graph @sum_of_squares {
  input data %x: f32[4,8]
  input data %t: f32[4,8]
  %0 = sub(%x, %t) : f32[4,8]
  %1 = mul(%0, %0) : f32[4,8]
  %2 = reduce_sum(%1) {axes = [0, 1]} : f32[]
  output "loss" = %2
})");
  CHECK(checkGroups(*squares) == 1);

  auto broadcast = fused(R"(graph @scaled_max {
  input data %x: f32[4,3,8]
  input param %b: f32[8]
  input data %s: f32[4,1,1]
  %0 = add(%x, %b) : f32[4,3,8]
  %1 = mul(%0, %s) : f32[4,3,8]
  %2 = reduce_max(%1) {axes = [1]} : f32[4,8]
  output "y" = %2
})");
  CHECK(checkGroups(*broadcast) == 1);

  // A member that is also an output is stored from inside the loops over the reduced axis.
  auto mean = fused(R"(graph @centred_mean {
  input data %x: f32[6,5]
  input param %b: f32[5]
  %0 = sub(%x, %b) : f32[6,5]
  %1 = mul(%0, %0) : f32[6,5]
  %2 = reduce_mean(%1) {axes = [0], keepdims = true} : f32[1,5]
  output "var" = %2
  output "centred" = %0
})");
  CHECK(checkGroups(*mean) == 1);
}

TEST_CASE("cpu fusion: an Adam-style update stores the moment and the weight in place") {
  auto g = fused(R"(graph @update {
  input param %w: f32[16]
  input state %m: f32[16]
  input data %g: f32[16]
  %0 = constant() {value = [0.9]} : f32[]
  %1 = mul(%m, %0) : f32[16]
  %2 = constant() {value = [0.1]} : f32[]
  %3 = mul(%g, %2) : f32[16]
  %4 = add(%1, %3) : f32[16]
  %5 = sub(%w, %4) : f32[16]
  output "w" = %5 updates %w
  output "m" = %4 updates %m
})");
  CHECK(checkGroups(*g) == 1);
  auto exe = cpu::compileGraph(*g, {});
  CHECK(stat(*exe, "outputs written into inputs") == 2);
}

TEST_CASE("cpu fusion: a group with bf16 members rounds each as its node would") {
  // The kernel computes in f32 registers and rounds every bf16 member's value, as the
  // reference, which runs the nodes one by one, rounds every result.
  auto g = fused(R"(graph @bf16_chain {
  input data %x: f32[8]
  %0 = cast(%x) {dtype = bf16} : bf16[8]
  %1 = exp(%0) : bf16[8]
  %2 = cast(%1) {dtype = f32} : f32[8]
  output "y" = %2
})");
  REQUIRE(g->nodes()[0]->group >= 0);
  CHECK(checkGroups(*g, true) == 1);
}

TEST_CASE("cpu fusion: a group that cannot be one kernel runs node by node") {
  // The key of random_uniform is read whole, and here elementwise too: one buffer would need
  // two views in one kernel.
  auto g = fused(R"(graph @key_read_twice {
  input data %s: i32[2]
  %0 = random_uniform(%s) {shape = [2]} : f32[2]
  %1 = cast(%s) {dtype = f32} : f32[2]
  %2 = add(%0, %1) : f32[2]
  output "y" = %2
})");
  REQUIRE(g->nodes()[0]->group >= 0);
  CHECK(checkGroups(*g, true) == 0);
}
