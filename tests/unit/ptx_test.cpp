// backend/gpu/ptx without a GPU: launch configurations, shared memory, the module's entries and
// its errors. (tests/lit/gpu FileChecks the PTX and runs ptxas on it.)

#include "backend/gpu/ptx/ptx.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::kernel;

namespace {

/// out[i] = in[i] + 1 over a parallel loop of n iterations.
Kernel parallelKernel(std::string name, int64_t n) {
  Kernel k;
  k.name = std::move(name);
  int in = k.addBuffer("in0", DType::f32, {n}, Role::Read);
  int out = k.addBuffer("out0", DType::f32, {n}, Role::Write);
  int i = k.addVar("i", ScalarType::index);
  Expr v = add(load(k, in, {varRef(k, i)}), constant(1, ScalarType::f32));
  k.body.push_back(loop(i, LoopKind::Parallel, n, {store(out, {varRef(k, i)}, v)}));
  return k;
}

/// Row sums: a group per row, `cols` workers staging through a local buffer, a group
/// reduction.
Kernel groupKernel(int64_t rows, int64_t cols) {
  Kernel k;
  k.name = "row_sum";
  int in = k.addBuffer("in0", DType::f32, {rows, cols}, Role::Read);
  int out = k.addBuffer("out0", DType::f32, {rows}, Role::Write);
  int stage = k.addBuffer("stage", DType::f32, {cols}, Role::Local);
  int g = k.addVar("g", ScalarType::index), w = k.addVar("w", ScalarType::index),
      w2 = k.addVar("w", ScalarType::index), acc = k.addVar("acc", ScalarType::f32, true);
  Block group;
  group.push_back(loop(w, LoopKind::Worker, cols,
                       {store(stage, {varRef(k, w)}, load(k, in, {varRef(k, g), varRef(k, w)}))}));
  group.push_back(Stmt{Barrier{}});
  group.push_back(accumulator(acc, constant(0, ScalarType::f32)));
  group.push_back(loop(w2, LoopKind::Worker, cols,
                       {assign(acc, add(varRef(k, acc), load(k, stage, {varRef(k, w2)})))}));
  group.push_back(Stmt{GroupReduce{acc, BinaryOp::Add}});
  group.push_back(store(out, {varRef(k, g)}, varRef(k, acc)));
  k.body.push_back(loop(g, LoopKind::Group, rows, std::move(group)));
  assertValid(k);
  return k;
}

} // namespace

TEST_CASE("PTX launches: parallel loops over the grid, groups on blocks, the rest one thread") {
  gpu::PtxOptions o;
  gpu::PtxLaunch big = gpu::ptxLaunch(parallelKernel("big", 1000), o);
  CHECK(big.block == o.max_block);
  CHECK(big.grid == (1000 + o.max_block - 1) / o.max_block);
  CHECK(big.shared_bytes == 0);
  gpu::PtxLaunch small = gpu::ptxLaunch(parallelKernel("small", 10), o);
  CHECK(small.block == 32); // a warp at least
  CHECK(small.grid == 1);

  // 100 workers round up to 128 threads; shared: the local row (400 bytes, then aligned to 16)
  // and a slot of 8 bytes per thread for the reduction.
  gpu::PtxLaunch group = gpu::ptxLaunch(groupKernel(7, 100), o);
  CHECK(group.block == 128);
  CHECK(group.grid == 7);
  CHECK(group.shared_bytes == 400 + 128 * 8);

  Kernel serial = parallelKernel("serial", 4);
  std::get<Loop>(serial.body[0].node).kind = LoopKind::Serial;
  gpu::PtxLaunch one = gpu::ptxLaunch(serial, o);
  CHECK(one.grid == 1);
  CHECK(one.block == 1);
}

TEST_CASE("PTX module: an entry per kernel, one module or one each") {
  std::vector<Kernel> ks = {parallelKernel("first", 64), groupKernel(3, 40)};
  gpu::PtxModule m = gpu::emitPtx(ks);
  REQUIRE(m.kernels.size() == 2);
  CHECK(m.ptx.find(".target sm_90") != std::string::npos);
  CHECK(m.ptx.find(".visible .entry first(") != std::string::npos);
  CHECK(m.ptx.find(".visible .entry row_sum(") != std::string::npos);
  CHECK(m.ptx.find("bar.sync") != std::string::npos);
  CHECK(m.llvm_ir.find("nvptx64-nvidia-cuda") != std::string::npos);
  CHECK(m.kernels[0].ptx.empty());

  gpu::PtxModule sep = gpu::emitPtx(ks, {.arch = "sm_80", .separate = true});
  CHECK(sep.ptx.empty());
  CHECK(sep.kernels[0].ptx.find(".target sm_80") != std::string::npos);
  CHECK(sep.kernels[0].ptx.find(".entry first(") != std::string::npos);
  CHECK(sep.kernels[0].ptx.find("row_sum") == std::string::npos);
  CHECK(sep.kernels[1].ptx.find(".entry row_sum(") != std::string::npos);
  CHECK(sep.kernels[1].llvm_ir.find("@llvm.nvvm.barrier0") != std::string::npos);
}

TEST_CASE("PTX errors: architecture, block size, names, shared memory") {
  std::vector<Kernel> ks = {parallelKernel("a", 8)};
  CHECK_THROWS_WITH_AS(gpu::emitPtx(ks, {.arch = "sm_70"}),
                       doctest::Contains("PTX: unknown architecture 'sm_70'; known: sm_90, sm_80"),
                       Error);
  CHECK_THROWS_WITH_AS(gpu::emitPtx(ks, {.max_block = 100}),
                       doctest::Contains("PTX: the block size must be a power of two from 32 to "
                                         "1024, found 100"),
                       Error);
  ks.push_back(parallelKernel("a", 16));
  CHECK_THROWS_WITH_AS(gpu::emitPtx(ks), doctest::Contains("PTX: two kernels are named a"), Error);
  // 60000 floats of local memory: more than a block's 227 KiB.
  std::vector<Kernel> big = {groupKernel(2, 60000)};
  CHECK_THROWS_WITH_AS(gpu::emitPtx(big), doctest::Contains("bytes of shared memory"), Error);
}
