// The Vulkan executable: memory plans split for the device's buffer limit, graphs run with
// hand-written kernels for some nodes and reference kernels on the host for the rest, the
// kernel cache, and a trap's error through the error slot.

#include "backend/cpu/cpu_backend.h"
#include "backend/gpu/vulkan/vulkan_backend.h"
#include "backend/gpu/vulkan/vulkan_executable.h"
#include "backend/kernel/lower.h"
#include "backend/memory_plan.h"
#include "backend/reference/interpreter.h"
#include "ir/parser.h"
#include "vulkan_test_util.h"

#include <map>
#include <random>
#include <thread>

using namespace kiln;
using namespace kiln::vulkan;

namespace {

std::unique_ptr<Graph> parse(const std::string &text) { return parseGraph(text, "vulkan.kir"); }

/// Kernels by name prefix from hand-written shaders; every other kernel is left empty (its
/// node runs on the host). Counts the calls per prefix.
struct TestCompiler {
  std::map<std::string, int> calls;

  spirv::SpirvKernel operator()(const kernel::Kernel &k) {
    std::string op = k.name.substr(0, k.name.rfind('_'));
    ++calls[op];
    spirv::SpirvKernel out{.name = k.name};
    const kernel::Buffer &result = k.buffers[k.parameters().back()];
    int64_t elements = numElements(result.shape);
    out.workgroups = (elements + 63) / 64;
    out.workgroup_size = 64;
    if (op == "add" && result.dtype == DType::f32)
      out.binary = test::assemble(test::addShader());
    if (op == "gather") {
      // The kernel views the table as [batch, outer, rows, width].
      const Shape &table = k.buffers[k.parameters()[0]].shape;
      out.binary = test::assemble(test::gatherRowsShader(static_cast<int>(table[table.size() - 2]),
                                                         static_cast<int>(table.back())));
    }
    return out;
  }
};

std::vector<Literal> randomInputs(const Graph &g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2, 2);
  std::vector<Literal> inputs;
  for (const GraphInput &in : g.inputs()) {
    Literal l(in.value->type);
    for (double &v : l.data)
      v = u(rng);
    l.roundToDType();
    inputs.push_back(l);
  }
  return inputs;
}

std::vector<Literal> runOn(Executable &exe, const std::vector<Literal> &inputs) {
  std::vector<HostBuffer> buffers;
  for (const Literal &l : inputs)
    buffers.push_back(HostBuffer(l.type, l.toBytes()));
  std::vector<Literal> out;
  for (const HostBuffer &b : exe.run(buffers))
    out.push_back(Literal::fromBytes(b.type(), b.bytes()));
  return out;
}

int64_t stat(const Executable &exe, const std::string &name) {
  for (const auto &[k, v] : exe.statistics())
    if (k == name)
      return v;
  FAIL("no statistic " << name);
  return -1;
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const Error &e) {
    return e.message();
  }
  return "";
}

} // namespace

TEST_CASE("vulkan: arenas are planned within maxStorageBufferRange and the offset alignment") {
  // Three 48 MiB values live at once: 144 MiB, more than one lavapipe binding may span. Only
  // planned, never allocated.
  auto g = parse(R"(graph @big {
  input data %x: f32[12582912]
  %0 = exp(%x) : f32[12582912]
  %1 = tanh(%x) : f32[12582912]
  %2 = neg(%x) : f32[12582912]
  %3 = add(%0, %1) : f32[12582912]
  %4 = add(%3, %2) : f32[12582912]
  output "y" = %4
})");
  const int64_t value = int64_t{12582912} * 4, limit = int64_t{128} << 20;
  MemoryPlan whole = planMemory(*g);
  REQUIRE(whole.arena_sizes.size() == 1);
  CHECK(whole.arena_sizes[0] > limit);

  Limits lavapipe{.max_storage_buffer_range = limit, .min_storage_offset_alignment = 16};
  PlanOptions options = planOptionsFor(lavapipe);
  CHECK(options.max_buffer_bytes == limit);
  CHECK(options.alignment == kPlanAlignment);
  MemoryPlan split = planMemory(*g, options);
  CHECK(checkMemoryPlan(*g, split).empty());
  CHECK(split.arena_sizes.size() >= 2);
  for (int64_t size : split.arena_sizes)
    CHECK(size <= limit);
  CHECK(split.arenaBytes() >= 3 * value);

  // A device that wants 256-byte offsets gets them (f32[1000] is not a multiple of 256).
  auto small = parse(R"(graph @small {
  input data %x: f32[1000]
  %0 = exp(%x) : f32[1000]
  %1 = tanh(%x) : f32[1000]
  %2 = add(%0, %1) : f32[1000]
  %3 = neg(%x) : f32[1000]
  %4 = add(%2, %3) : f32[1000]
  output "y" = %4
})");
  Limits wide{.max_storage_buffer_range = limit, .min_storage_offset_alignment = 256};
  CHECK(planOptionsFor(wide).alignment == 256);
  MemoryPlan aligned = planMemory(*small, planOptionsFor(wide));
  CHECK(checkMemoryPlan(*small, aligned).empty());
  for (const PlannedValue &pv : aligned.values)
    if (pv.home == ValueHome::Arena)
      CHECK(pv.offset % 256 == 0);
  MemoryPlan plain = planMemory(*small);
  bool any_not_256 = false;
  for (const PlannedValue &pv : plain.values)
    any_not_256 = any_not_256 || (pv.home == ValueHome::Arena && pv.offset % 256 != 0);
  CHECK(any_not_256); // the default plan packs tighter, so the option changed something

  if (test::haveVulkan() && std::getenv("VK_ICD_FILENAMES") &&
      std::string(std::getenv("VK_ICD_FILENAMES")) == test::kLavapipeIcd) {
    CHECK(test::testDevice()->limits().max_storage_buffer_range == limit);
    CHECK(planOptionsFor(test::testDevice()->limits()).max_buffer_bytes == limit);
  }
}

TEST_CASE("vulkan: a graph runs with device kernels and host fallbacks, equal to the reference") {
  if (!test::haveVulkan())
    return;
  auto g = parse(R"(graph @mixed {
  input data %x: f32[1000]
  input data %y: f32[1000]
  %0 = exp(%x) : f32[1000]
  %1 = add(%0, %y) : f32[1000]
  %2 = tanh(%1) : f32[1000]
  %3 = add(%2, %x) : f32[1000]
  %4 = add(%3, %1) : f32[1000]
  output "y" = %4
  output "t" = %2
})");
  auto compiler = std::make_shared<TestCompiler>();
  VulkanBackend backend([compiler](const kernel::Kernel &k) { return (*compiler)(k); });
  CHECK(backend.name() == "vulkan");
  CHECK(backend.supports(*g->nodes()[0]));
  std::unique_ptr<Executable> exe = backend.compile(*g, {});
  // Three adds of one shape are one kernel, compiled once; exp and tanh run on the host.
  CHECK(compiler->calls["add"] == 1);
  CHECK(stat(*exe, "kernels") == 3);
  CHECK(stat(*exe, "distinct kernels") == 1);
  CHECK(stat(*exe, "fallback nodes") == 2);
  CHECK(stat(*exe, "fallback exp") == 1);
  CHECK(stat(*exe, "command buffers") == 2);

  for (uint32_t seed : {1u, 2u}) {
    std::vector<Literal> inputs = randomInputs(*g, seed);
    std::vector<Literal> want = reference::run(*g, inputs);
    std::vector<Literal> got = runOn(*exe, inputs);
    REQUIRE(got.size() == want.size());
    for (size_t o = 0; o < want.size(); ++o) {
      REQUIRE(got[o].type == want[o].type);
      for (int64_t i = 0; i < want[o].size(); ++i) {
        INFO("output " << o << " element " << i);
        CHECK(got[o].data[i] == doctest::Approx(want[o].data[i]).epsilon(1e-6));
      }
    }
  }

  // A second executable takes its kernels from the backend's cache.
  std::unique_ptr<Executable> again = backend.compile(*g, {});
  CHECK(compiler->calls["add"] == 1);
  CHECK(compiler->calls["exp"] == 1);
  CHECK(backend.compiledKernels() == 3);
}

TEST_CASE("vulkan: a gather's index trap is reported from the error slot as on the CPU") {
  if (!test::haveVulkan())
    return;
  if (!test::testDevice()->features().int64_atomics) {
    MESSAGE("skipped: no shaderBufferInt64Atomics for the trap's OpAtomicSMin");
    return;
  }
  auto g = parse(R"(graph @rows {
  input data %table: f32[4,3]
  input data %ids: i64[5]
  %0 = gather(%table, %ids) : f32[5,3]
  output "rows" = %0
})");
  REQUIRE(kernel::lowerNode(*g->nodes()[0]));
  REQUIRE(!kernel::lowerNode(*g->nodes()[0])->traps.empty());
  auto compiler = std::make_shared<TestCompiler>();
  VulkanBackend backend([compiler](const kernel::Kernel &k) { return (*compiler)(k); });
  std::unique_ptr<Executable> exe = backend.compile(*g, {});
  CHECK(stat(*exe, "kernels") == 1);
  CHECK(stat(*exe, "fallback nodes") == 0);

  std::vector<Literal> inputs = randomInputs(*g, 3);
  inputs[1] = Literal(TensorType{DType::i64, {5}}, {3, 0, 2, 2, 1});
  std::vector<Literal> want = reference::run(*g, inputs);
  std::vector<Literal> got = runOn(*exe, inputs);
  CHECK(got[0].data == want[0].data);

  std::vector<Literal> bad = inputs;
  bad[1] = Literal(TensorType{DType::i64, {5}}, {1, 0, 7, 2, -1});
  std::unique_ptr<Executable> cpu = cpuBackend().compile(*g, {});
  std::string cpu_error = errorOf([&] { runOn(*cpu, bad); });
  REQUIRE(cpu_error.find("out of range") != std::string::npos);
  CHECK(errorOf([&] { runOn(*exe, bad); }) == cpu_error);
  // The slots are cleared for the next run.
  CHECK(runOn(*exe, inputs)[0].data == want[0].data);
}

TEST_CASE("vulkan: an update written into its input's device buffer, and bindings in place") {
  if (!test::haveVulkan())
    return;
  auto g = parse(R"(graph @step {
  input param %w: f32[300]
  input data %g: f32[300]
  %0 = add(%w, %g) : f32[300]
  %1 = add(%0, %g) : f32[300]
  %2 = add(%1, %1) : f32[300]
  output "w" = %1 updates %w
  output "twice" = %2
  output "old" = %w
})");
  auto compiler = std::make_shared<TestCompiler>();
  VulkanBackend backend([compiler](const kernel::Kernel &k) { return (*compiler)(k); });
  std::unique_ptr<Executable> exe = backend.compile(*g, {});
  CHECK(stat(*exe, "fallback nodes") == 0);
  std::vector<Literal> inputs = randomInputs(*g, 5);
  std::vector<Literal> want = reference::run(*g, inputs);
  for (int run = 0; run < 2; ++run) {
    std::vector<Literal> got = runOn(*exe, inputs);
    for (size_t o = 0; o < want.size(); ++o)
      CHECK(got[o].data == want[o].data);
  }
  Bindings bindings;
  for (size_t i = 0; i < inputs.size(); ++i)
    bindings.emplace(g->inputs()[i].name, HostBuffer(inputs[i].type, inputs[i].toBytes()));
  exe->run(bindings);
  auto literal = [&](const std::string &name) {
    const HostBuffer &b = bindings.at(name);
    return Literal::fromBytes(b.type(), b.bytes());
  };
  CHECK(literal("w").data == want[0].data);
  CHECK(literal("twice").data == want[1].data);
  CHECK(literal("old").data == inputs[0].data);
}

TEST_CASE("vulkan: a fusion group without a device kernel runs on the host as one step") {
  if (!test::haveVulkan())
    return;
  // The group's member %1 stays inside it; %2 is stored, and read by a device add.
  auto g = parse(R"(graph @grouped {
  input data %x: f32[200]
  input data %y: f32[200]
  %0 = add(%x, %y) : f32[200]
  %1 = exp(%0) : f32[200] group(0)
  %2 = tanh(%1) : f32[200] group(0)
  %3 = add(%2, %y) : f32[200]
  output "z" = %3
})");
  auto compiler = std::make_shared<TestCompiler>();
  VulkanBackend backend([compiler](const kernel::Kernel &k) { return (*compiler)(k); });
  std::unique_ptr<Executable> exe = backend.compile(*g, {});
  CHECK(compiler->calls["group"] == 1);
  CHECK(stat(*exe, "kernels") == 2);
  CHECK(stat(*exe, "fallback exp") == 1);
  CHECK(stat(*exe, "fallback tanh") == 1);
  std::vector<Literal> inputs = randomInputs(*g, 9);
  std::vector<Literal> want = reference::run(*g, inputs);
  std::vector<Literal> got = runOn(*exe, inputs);
  for (int64_t i = 0; i < want[0].size(); ++i)
    CHECK(got[0].data[i] == doctest::Approx(want[0].data[i]).epsilon(1e-6));
}

TEST_CASE("vulkan: executables on one device run on two threads at once") {
  if (!test::haveVulkan())
    return;
  auto g = parse(R"(graph @sum {
  input data %x: f32[5000]
  input data %y: f32[5000]
  %0 = add(%x, %y) : f32[5000]
  %1 = add(%0, %y) : f32[5000]
  %2 = exp(%1) : f32[5000]
  output "z" = %2
})");
  auto compiler = std::make_shared<TestCompiler>();
  VulkanBackend backend([compiler](const kernel::Kernel &k) { return (*compiler)(k); });
  std::vector<std::unique_ptr<Executable>> exes;
  std::vector<std::vector<Literal>> inputs, want, got(2);
  for (uint32_t t = 0; t < 2; ++t) {
    exes.push_back(backend.compile(*g, {}));
    inputs.push_back(randomInputs(*g, 20 + t));
    want.push_back(reference::run(*g, inputs.back()));
  }
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int run = 0; run < 20; ++run)
        got[t] = runOn(*exes[t], inputs[t]);
    });
  for (std::thread &t : threads)
    t.join();
  for (size_t t = 0; t < 2; ++t)
    for (int64_t i = 0; i < want[t][0].size(); ++i)
      CHECK(got[t][0].data[i] == doctest::Approx(want[t][0].data[i]).epsilon(1e-6));
}
