// The SPIR-V code generator: every kernel of the tiny Transformer's programs assembles and
// passes SPIRV-Tools' validator for Vulkan 1.2, before and after optimisation; the dispatch
// shapes; validation errors name the kernel.

#include "backend/cpu/cpu_backend.h"
#include "backend/gpu/spirv/spirv_graph.h"
#include "backend/gpu/spirv/spirv_kernel.h"
#include "backend/kernel/lower.h"
#include "compiler/programs.h"
#include "ir/parser.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::kernel;

namespace {

/// Compiles every kernel of a program prepared as the CPU backend prepares it; returns how many.
size_t compileAll(const Graph &graph, CpuKernels mode) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, mode);
  size_t n = 0;
  for (const Kernel &k : spirv::graphKernels(*g)) {
    INFO("kernel @" << k.name << "\n" << print(k));
    spirv::SpirvKernel s;
    CHECK_NOTHROW(s = spirv::compileSpirv(k));
    CHECK(!s.binary.empty());
    CHECK(s.workgroups >= 1);
    CHECK(s.assembly.find(fmt::format("LocalSize {} 1 1", s.workgroup_size)) != std::string::npos);
    ++n;
  }
  return n;
}

/// out[i] = exp(in0[i]) over `n` elements: one parallel loop.
Kernel expKernel(int64_t n) {
  Kernel k;
  k.name = "exp";
  int x = k.addBuffer("in0", DType::f32, {n}, Role::Read);
  int out = k.addBuffer("out0", DType::f32, {n}, Role::Write);
  int i = k.addVar("i", ScalarType::index);
  k.body.push_back(
      loop(i, LoopKind::Parallel, n,
           {store(out, {varRef(k, i)}, unary(UnaryOp::Exp, load(k, x, {varRef(k, i)})))}));
  return k;
}

} // namespace

TEST_CASE("spirv: every kernel of the tiny forward, train and decode-step programs validates") {
  TransformerConfig cfg = presetConfig("tiny");
  GraphOptions shape{.batch = 2, .src_len = 8, .tgt_len = 8, .dropout = 0.1};
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  for (CpuKernels mode : {CpuKernels::Jit, CpuKernels::Auto}) {
    CAPTURE(cpuKernelsName(mode));
    CHECK(compileAll(*buildLoss(cfg, shape).graph, mode) > 10);
    CHECK(compileAll(*buildTrainStep(cfg, shape, opt).graph, mode) > 30);
    CHECK(compileAll(*buildDecodeStep(cfg, {.batch = 2, .src_len = 8, .tgt_len = 8}).graph, mode) >
          10);
  }
  // Mixed precision: bf16 buffers, casts and rounding.
  CHECK(compileAll(*buildTrainStep(cfg, shape, opt, withPrecision("default", "bf16")).graph,
                   CpuKernels::Jit) > 30);
}

TEST_CASE("spirv: a parallel loop strides over the global invocations") {
  spirv::SpirvKernel s = spirv::compileSpirv(expKernel(1000));
  CHECK(s.workgroup_size == 64);
  CHECK(s.workgroups == 16);
  CHECK(s.shared_bytes == 0);
  CHECK(s.assembly.find("BuiltIn GlobalInvocationId") != std::string::npos);
  CHECK(s.assembly.find("BuiltIn NumWorkgroups") != std::string::npos);
  CHECK(s.assembly.find("OpLoopMerge") != std::string::npos);
  // At most max_workgroups workgroups: the loop's stride covers the rest.
  s = spirv::compileSpirv(expKernel(1000), {.workgroup_size = 32, .max_workgroups = 4});
  CHECK(s.workgroup_size == 32);
  CHECK(s.workgroups == 4);
  // The assembly is deterministic.
  CHECK(spirv::spirvAssembly(expKernel(77)) == spirv::spirvAssembly(expKernel(77)));
}

TEST_CASE("spirv: a group kernel runs a group per workgroup with barriers and scratch") {
  auto g = parseGraph("graph @g {\n"
                      "  input data %x: f32[3,5]\n"
                      "  %0 = softmax(%x) : f32[3,5]\n"
                      "  output \"y\" = %0\n"
                      "}\n",
                      "softmax.kir");
  std::vector<Kernel> ks = spirv::graphKernels(*g);
  REQUIRE(ks.size() == 1);
  spirv::SpirvKernel s = spirv::compileSpirv(ks[0]);
  CHECK(s.workgroups == 3);
  CHECK(s.workgroup_size == 8); // the next power of two above the row of 5
  CHECK(s.shared_bytes == 8 * 4);
  CHECK(s.assembly.find("BuiltIn WorkgroupId") != std::string::npos);
  CHECK(s.assembly.find("BuiltIn LocalInvocationId") != std::string::npos);
  CHECK(s.assembly.find("OpControlBarrier") != std::string::npos);
  CHECK(s.assembly.find("Workgroup") != std::string::npos);
}

TEST_CASE("spirv: a module the validator rejects is an error naming the kernel") {
  std::string text = spirv::spirvAssembly(expKernel(8));
  // Drop the Int64 capability that the index arithmetic needs.
  std::string bad = text;
  bad.erase(bad.find("OpCapability Int64\n"), 19);
  CHECK_THROWS_WITH_AS(spirv::assembleSpirv(bad, "exp"),
                       doctest::Contains("SPIR-V of kernel @exp is not valid"), Error);
  CHECK_THROWS_WITH_AS(spirv::assembleSpirv("OpNotAnInstruction", "exp"),
                       doctest::Contains("does not assemble"), Error);
  CHECK(!spirv::assembleSpirv(text, "exp").empty());
}

TEST_CASE("spirv: bf16 and bool parameters keep kiln's host layout; tables and scratch") {
  Kernel k;
  k.name = "layouts";
  int flags = k.addBuffer("in0", DType::boolean, {6}, Role::Read);
  int table = k.addConstant(DType::f32, {6}, {0.5, 1.5, -2, 4, 8, 16});
  int scratch = k.addBuffer("scratch", DType::bf16, {6}, Role::Local);
  int out = k.addBuffer("out0", DType::bf16, {6}, Role::Write);
  int g = k.addVar("g", ScalarType::index);
  int i = k.addVar("i", ScalarType::index), j = k.addVar("j", ScalarType::index);
  Expr vi = varRef(k, i), vj = varRef(k, j);
  Block group;
  group.push_back(loop(
      i, LoopKind::Worker, 6,
      {store(scratch, {vi},
             select(load(k, flags, {vi}), load(k, table, {vi}), constant(0, ScalarType::f32)))}));
  group.push_back(Stmt{Barrier{}});
  group.push_back(loop(j, LoopKind::Worker, 6, {store(out, {vj}, load(k, scratch, {vj}))}));
  k.body.push_back(loop(g, LoopKind::Group, 1, std::move(group)));
  INFO(verify(k));
  REQUIRE(verify(k).empty());
  spirv::SpirvKernel s = spirv::compileSpirv(k);
  CHECK(s.workgroups == 1);
  CHECK(s.workgroup_size == 8);
  CHECK(s.shared_bytes == 6 * 4); // a local bf16 holds its f32 value
  for (const char *want :
       {"OpCapability StorageBuffer8BitAccess", "OpCapability StorageBuffer16BitAccess",
        "OpDecorate %rta_u8 ArrayStride 1", "OpDecorate %rta_u16 ArrayStride 2",
        "OpConstantComposite %arr_f32_6", "Private", "%ptr_Workgroup_arr_f32_6",
        "OpControlBarrier"}) {
    CAPTURE(want);
    CHECK(s.assembly.find(want) != std::string::npos);
  }
  CHECK(s.assembly.find("Int64Atomics") == std::string::npos); // no traps
  CHECK(s.assembly.find("Float64") == std::string::npos);
}
