// The CPU executable on the memory plan: values in shared arenas, results written over dead
// operands and into the inputs they update, the poisoning debug mode, the one-buffer-per-value
// baseline, thread counts and determinism, down to the tiny Transformer's train step.

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_executable.h"
#include "backend/cpu/jit.h"
#include "backend/kernel/lower.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "ir/parser.h"
#include "test_util.h"

#include <omp.h>

#include <cmath>
#include <map>

using namespace kiln;
using namespace kiln::test;

namespace {

/// The tiny Transformer's train step on small shapes, and inputs for its first step.
struct TrainStep {
  BuiltModel model;
  std::vector<HostBuffer> inputs;
};

TrainStep tinyTrainStep(double dropout) {
  TransformerConfig cfg = presetConfig("tiny");
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  TrainStep t{
      buildTrainStep(cfg, {.batch = 2, .src_len = 8, .tgt_len = 8, .dropout = dropout}, opt), {}};
  std::vector<Literal> params = initialValues(t.model.params, 3);
  std::map<std::string, const Literal *> by_name;
  for (size_t i = 0; i < params.size(); ++i)
    by_name[t.model.params[i].name] = &params[i];
  for (const GraphInput &in : t.model.graph->inputs()) {
    const TensorType &type = in.value->type;
    HostBuffer b(type);
    if (in.role == InputRole::Source || in.role == InputRole::Target) {
      for (int64_t i = 0; i < b.numElements(); ++i)
        b.setInt(i, i % 8 == 7 ? 0 : 4 + (i * 5 + (in.role == InputRole::Target)) % 40);
    } else if (in.role == InputRole::Step) {
      b.setInt(0, 1);
    } else if (in.role == InputRole::Seed) {
      b.setInt(0, 17);
    } else if (auto it = by_name.find(in.name); it != by_name.end()) {
      b = toBuffer(*it->second);
    } // optimizer state starts at zero
    t.inputs.push_back(std::move(b));
  }
  return t;
}

/// Every output of one run, in signature order: through run(), or through runInPlace() on a
/// copy of the inputs, reading updated outputs back from their inputs.
std::vector<HostBuffer> outputsOf(Executable &exe, const std::vector<HostBuffer> &inputs,
                                  bool in_place) {
  if (!in_place)
    return exe.run(inputs);
  std::vector<HostBuffer> args = inputs;
  std::vector<HostBuffer> out = exe.runInPlace(args);
  for (size_t k = 0; k < out.size(); ++k)
    if (auto u = exe.signature().outputs[k].updates) {
      CHECK(out[k].data() == nullptr);
      out[k] = args[*u];
    }
  return out;
}

void requireIdentical(const Signature &sig, const std::vector<HostBuffer> &a,
                      const std::vector<HostBuffer> &b) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("output " << sig.outputs[k].name);
    CHECK(a[k] == b[k]);
  }
}

std::unique_ptr<Graph> parse(std::string_view text) { return parseGraph(text, "cpu.kir"); }

/// Whether a buffer holds the reference's values to within the JIT's rounding of exp.
bool near(const HostBuffer &got, const Literal &want) {
  Literal have = toLiteral(got);
  if (have.type != want.type)
    return false;
  for (int64_t i = 0; i < have.size(); ++i)
    if (std::abs(have.data[i] - want.data[i]) > 1e-5 * (1 + std::abs(want.data[i])))
      return false;
  return true;
}

} // namespace

TEST_CASE("cpu memory: the tiny train step gives the same bits in arenas, poisoned, in place "
          "and with one buffer per value") {
  TrainStep t = tinyTrainStep(0.1);
  const Graph &g = *t.model.graph;
  auto planned = cpu::compileGraph(g, {});
  auto poisoned = cpu::compileGraph(g, {.poison_dead_buffers = true});
  auto separate = cpu::compileGraph(g, {}, cpu::Placement::OneBufferPerValue);
  for (const Executable *exe : {planned.get(), poisoned.get(), separate.get()}) {
    std::vector<std::string> problems = cpu::checkExecutablePlan(*exe);
    for (const std::string &p : problems)
      INFO(p);
    CHECK(problems.empty());
  }

  int64_t arena = stat(*planned, "arena bytes"), separate_bytes = stat(*separate, "arena bytes");
  MESSAGE("tiny train step: arenas " << arena << " bytes (peak " << stat(*planned, "peak bytes")
                                     << "), one buffer per value " << separate_bytes << " bytes");
  CHECK(arena > 0);
  CHECK(arena < separate_bytes);
  CHECK(stat(*planned, "no reuse bytes") == separate_bytes);
  CHECK(stat(*planned, "outputs written into inputs") > 0);
  CHECK(stat(*planned, "values in place of operands") > 0);

  std::vector<HostBuffer> want = outputsOf(*separate, t.inputs, false);
  const Signature &sig = planned->signature();
  requireIdentical(sig, want, outputsOf(*planned, t.inputs, false));
  requireIdentical(sig, want, outputsOf(*planned, t.inputs, true));
  requireIdentical(sig, want, outputsOf(*poisoned, t.inputs, false));
  requireIdentical(sig, want, outputsOf(*poisoned, t.inputs, true));
  requireIdentical(sig, want, outputsOf(*separate, t.inputs, true));
  // A second run reuses the arenas that the first left behind.
  requireIdentical(sig, want, outputsOf(*poisoned, t.inputs, true));

  // Bindings move the parameters in and get their next values back in the same buffers.
  Bindings b;
  for (size_t i = 0; i < t.inputs.size(); ++i)
    b[sig.inputs[i].name] = t.inputs[i];
  planned->run(b);
  for (size_t k = 0; k < sig.outputs.size(); ++k) {
    const Signature::Output &o = sig.outputs[k];
    INFO("output " << o.name);
    CHECK(b.at(o.updates ? sig.inputs[*o.updates].name : o.name) == want[k]);
  }
}

TEST_CASE("cpu memory: results overwrite dead operands and the inputs they update") {
  auto g = parse(R"(graph @update {
  input param %w: f32[4096]
  input data %x: f32[4096]
  %0 = exp(%x) : f32[4096]
  %1 = add(%0, %0) : f32[4096]
  %2 = mul(%1, %w) : f32[4096]
  %3 = sub(%w, %2) : f32[4096]
  output "y" = %2
  output "w" = %3 updates %w
})");
  std::mt19937 rng(5);
  std::vector<Literal> inputs;
  for (const GraphInput &in : g->inputs()) {
    Literal l(in.value->type);
    for (double &v : l.data)
      v = std::uniform_real_distribution<double>(-1, 1)(rng);
    l.roundToDType();
    inputs.push_back(std::move(l));
  }
  std::vector<Literal> want = reference::run(*g, inputs);
  auto exe = cpu::compileGraph(*g, {.poison_dead_buffers = true});
  CHECK(cpu::checkExecutablePlan(*exe).empty());
  CHECK(stat(*exe, "values in place of operands") == 1);
  CHECK(stat(*exe, "outputs written into inputs") == 1);

  std::vector<HostBuffer> args = {toBuffer(inputs[0]), toBuffer(inputs[1])};
  std::vector<HostBuffer> out = exe->run(args);
  CHECK(args[0] == toBuffer(inputs[0])); // run() leaves its inputs alone
  REQUIRE(out.size() == 2);
  CHECK(near(out[0], want[0]));
  CHECK(near(out[1], want[1]));

  const std::byte *w_bytes = args[0].data();
  out = exe->runInPlace(args);
  CHECK(args[0].data() == w_bytes); // the same allocation, now holding the next value
  CHECK(near(args[0], want[1]));
  CHECK(out[1].data() == nullptr);
  CHECK(near(out[0], want[0]));
}

TEST_CASE("cpu memory: dynamic_update_slice writes a KV cache in place, position by position") {
  // A decode step's cache update: the keys of one position go into the cache at %p, and what
  // follows reads the updated cache.
  auto g = parse(R"(graph @cache {
  input state %c: f32[2,3,6,4]
  input data %k: f32[2,3,1,4]
  input data %p: i64[]
  input data %z: i64[]
  %0 = dynamic_update_slice(%c, %k, %z, %z, %p, %z) : f32[2,3,6,4]
  %1 = reduce_sum(%0) {axes = [3]} : f32[2,3,6]
  output "c" = %0 updates %c
  output "s" = %1
})");
  auto exe = cpu::compileGraph(*g, {.poison_dead_buffers = true});
  CHECK(cpu::checkExecutablePlan(*exe).empty());
  CHECK(stat(*exe, "outputs written into inputs") == 1);
  CHECK(stat(*exe, "fallback nodes") == 0);

  std::mt19937 rng(3);
  auto random = [&](const TensorType &t) {
    Literal l(t);
    for (double &v : l.data)
      v = std::uniform_real_distribution<double>(-1, 1)(rng);
    l.roundToDType();
    return l;
  };
  Literal cache = random(g->inputs()[0].value->type);
  std::vector<HostBuffer> args = {toBuffer(cache),
                                  {},
                                  HostBuffer(TensorType{DType::i64, {}}),
                                  HostBuffer(TensorType{DType::i64, {}})};
  const std::byte *cache_bytes = args[0].data();
  // Every position, then one past the end, which is clamped to the last as the reference does.
  for (int64_t p : {0, 1, 2, 3, 4, 5, 9}) {
    INFO("position " << p);
    Literal keys = random(g->inputs()[1].value->type);
    Literal position(TensorType{DType::i64, {}}, {static_cast<double>(p)});
    Literal zero(TensorType{DType::i64, {}}, {0.0});
    std::vector<Literal> want =
        reference::run(*g, std::vector<Literal>{cache, keys, position, zero});
    args[1] = toBuffer(keys);
    args[2] = toBuffer(position);
    args[3] = toBuffer(zero);
    std::vector<HostBuffer> out = exe->runInPlace(args);
    CHECK(args[0].data() == cache_bytes);
    CHECK(toLiteral(args[0]).data == want[0].data);
    CHECK(near(out[1], want[1]));
    cache = want[0];
  }
}

TEST_CASE("cpu memory: a slice of an input's leading rows is read where the input holds it") {
  // Rows 2..5 of %w start 128 bytes in: a view. Columns, strides, an unaligned start, an input
  // that an output updates, and a slice that is itself an output each get a copy.
  auto g = parse(R"(graph @views {
  input param %w: f32[8,16]
  input state %s: f32[8,16]
  input data %x: f32[3,16]
  input param %u: f32[8,4]
  %0 = slice(%w) {limit = [5, 16], start = [2, 0]} : f32[3,16]
  %1 = slice(%w) {limit = [8, 8], start = [0, 0]} : f32[8,8]
  %2 = slice(%w) {limit = [8, 16], start = [0, 0], stride = [2, 1]} : f32[4,16]
  %3 = slice(%u) {limit = [4, 4], start = [1, 0]} : f32[3,4]
  %4 = slice(%s) {limit = [5, 16], start = [2, 0]} : f32[3,16]
  %5 = slice(%w) {limit = [8, 16], start = [4, 0]} : f32[4,16]
  %6 = mul(%0, %x) : f32[3,16]
  %7 = reduce_sum(%1) {axes = [1]} : f32[8]
  %8 = reduce_sum(%2) {axes = [1]} : f32[4]
  %9 = add(%4, %4) : f32[3,16]
  %10 = neg(%s) : f32[8,16]
  %11 = reduce_sum(%3) {axes = [1]} : f32[3]
  output "a" = %6
  output "b" = %7
  output "c" = %8
  output "d" = %9
  output "e" = %5
  output "f" = %11
  output "s" = %10 updates %s
})");
  std::vector<Literal> inputs = randomLiterals(*g, 4);
  std::vector<Literal> want = reference::run(*g, inputs);
  for (bool poison : {false, true}) {
    INFO("poison " << poison);
    auto exe = cpu::compileGraph(*g, {.poison_dead_buffers = poison});
    CHECK(stat(*exe, "slices read in place") == 1);
    std::vector<HostBuffer> args;
    for (const Literal &l : inputs)
      args.push_back(toBuffer(l));
    for (int run = 0; run < 2; ++run) {
      std::vector<HostBuffer> out = exe->run(args);
      CHECK(args[0] == toBuffer(inputs[0])); // the viewed input is left as it was
      for (size_t k = 0; k + 1 < want.size(); ++k)
        CHECK(near(out[k], want[k]));
    }
  }
}

TEST_CASE("cpu memory: an output that is also an input's old value survives the update") {
  auto g = parse(R"(graph @keep {
  input state %s: f32[64]
  %0 = neg(%s) : f32[64]
  output "old" = %s
  output "s" = %0 updates %s
  output "again" = %0
})");
  Literal s(TensorType{DType::f32, {64}});
  for (size_t i = 0; i < s.data.size(); ++i)
    s.data[i] = static_cast<double>(i) - 20;
  auto exe = cpu::compileGraph(*g, {.poison_dead_buffers = true});
  CHECK(cpu::checkExecutablePlan(*exe).empty());
  std::vector<HostBuffer> args = {toBuffer(s)};
  std::vector<HostBuffer> out = exe->runInPlace(args);
  CHECK(toLiteral(out[0]).data == s.data);
  Literal negated = s;
  for (double &v : negated.data)
    v = -v;
  CHECK(toLiteral(args[0]).data == negated.data);
  CHECK(out[1].data() == nullptr);
  CHECK(toLiteral(out[2]).data == negated.data);
}

TEST_CASE("cpu threads: the option sets the thread count; runs are bit-identical for a seed and a "
          "thread count, and across thread counts on the JIT path") {
  CHECK(stat(*cpu::compileGraph(*parse(R"(graph @t {
  input data %x: f32[8]
  %0 = exp(%x) : f32[8]
  output "y" = %0
})"),
                                {.threads = 0}),
             "threads") == omp_get_num_procs());

  TrainStep t = tinyTrainStep(0.2);
  // The JIT's parallel loops split independent iterations, so the thread count changes no bit;
  // oneDNN's layer_norm_grad sums the weight's gradient over rows in per-thread parts, so
  // under auto a run is bit-identical to another with the same thread count.
  for (CpuKernels kernels : {CpuKernels::Jit, CpuKernels::Auto}) {
    INFO("--cpu-kernels=" << cpuKernelsName(kernels));
    auto one = cpu::compileGraph(*t.model.graph, {.threads = 1, .cpu_kernels = kernels});
    auto two = cpu::compileGraph(*t.model.graph, {.threads = 2, .cpu_kernels = kernels});
    CHECK(stat(*one, "threads") == 1);
    CHECK(stat(*two, "threads") == 2);
    const Signature &sig = two->signature();
    std::vector<HostBuffer> first = outputsOf(*two, t.inputs, true);
    requireIdentical(sig, first, outputsOf(*two, t.inputs, true));
    std::vector<HostBuffer> single = outputsOf(*one, t.inputs, true);
    requireIdentical(sig, single, outputsOf(*one, t.inputs, true));
    if (kernels == CpuKernels::Jit)
      requireIdentical(sig, first, single);
  }
  auto two = cpu::compileGraph(*t.model.graph, {.threads = 2});
  const Signature &sig = two->signature();
  std::vector<HostBuffer> first = outputsOf(*two, t.inputs, true);
  // Another seed draws other dropout masks.
  std::optional<size_t> seed = sig.findInput(InputRole::Seed);
  REQUIRE(seed);
  std::vector<HostBuffer> reseeded = t.inputs;
  reseeded[*seed].setInt(0, 18);
  std::optional<size_t> loss = sig.findOutput("loss");
  REQUIRE(loss);
  CHECK(!(outputsOf(*two, reseeded, true)[*loss] == first[*loss]));
}

TEST_CASE("cpu memory: a kernel writing over its operand loses noalias on the shared buffers") {
  auto g = parse(R"(graph @alias {
  input data %x: f32[4096]
  %0 = add(%x, %x) : f32[4096]
  output "y" = %0
})");
  std::vector<kernel::Kernel> k = {*kernel::lowerNode(*g->nodes()[0])};
  // Inlined into the entry point, noalias parameters become scoped alias metadata.
  CHECK(cpu::optimizedIR(cpu::JitProgram{k, {}}).find("!noalias") != std::string::npos);
  std::vector<std::vector<bool>> shared = {{false, false, false}};
  CHECK(cpu::optimizedIR(cpu::JitProgram{k, shared}).find("!noalias") == std::string::npos);
}
