// Compute dispatches on lavapipe from SPIR-V assembled here: an f32 add in the fixed binding
// layout against the host's sum, dependent dispatches and their barriers, and an i64 error
// slot that OpAtomicSMin fills with the first failing index.

#include "runtime/vulkan/vulkan_commands.h"
#include "backend/kernel/kernel_ir.h"
#include "vulkan_test_util.h"

#include <random>

using namespace kiln;
using namespace kiln::vulkan;

namespace {

std::vector<float> randomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-100, 100);
  std::vector<float> v(n);
  for (float &x : v)
    x = u(rng);
  return v;
}

std::unique_ptr<Buffer> floats(std::shared_ptr<const Device> d, const std::vector<float> &v,
                               Memory memory = Memory::Auto) {
  auto b = std::make_unique<Buffer>(std::move(d), static_cast<int64_t>(v.size() * 4), memory);
  b->write(0, std::as_bytes(std::span(v)));
  return b;
}

std::vector<float> readFloats(const Buffer &b, size_t n) {
  std::vector<float> v(n);
  b.read(0, std::as_writable_bytes(std::span(v)));
  return v;
}

BufferRange whole(const Buffer &b, bool written = false) {
  return BufferRange{.buffer = &b, .offset = 0, .size = b.size(), .written = written};
}

uint32_t groupsOf(size_t n) { return static_cast<uint32_t>((n + 63) / 64); }

} // namespace

TEST_CASE("vulkan: a barrier goes before a dispatch that depends on an earlier one") {
  Buffer *a = reinterpret_cast<Buffer *>(0x10), *b = reinterpret_cast<Buffer *>(0x20);
  auto range = [](Buffer *buf, int64_t off, int64_t size, bool w) {
    return BufferRange{.buffer = buf, .offset = off, .size = size, .written = w};
  };
  auto dispatch = [](std::vector<BufferRange> r) { return Dispatch{.bindings = std::move(r)}; };
  // 0 writes a[0,64); 1 writes a[64,128) (independent); 2 reads a[0,64) (after 0);
  // 3 reads b and writes a[128,192) (independent of 2); 4 writes b, which 3 read (after 3).
  std::vector<Dispatch> ds = {
      dispatch({range(b, 0, 64, false), range(a, 0, 64, true)}),
      dispatch({range(b, 0, 64, false), range(a, 64, 64, true)}),
      dispatch({range(a, 0, 64, false), range(a, 192, 64, true)}),
      dispatch({range(b, 0, 64, false), range(a, 128, 64, true)}),
      dispatch({range(a, 256, 64, false), range(b, 0, 64, true)}),
  };
  CHECK(barriersBefore(ds) == std::vector<size_t>{2, 4});
  CHECK(overlaps(range(a, 0, 64, false), range(a, 63, 1, false)));
  CHECK_FALSE(overlaps(range(a, 0, 64, false), range(a, 64, 1, false)));
  CHECK_FALSE(overlaps(range(a, 0, 64, false), range(b, 0, 64, false)));
}

TEST_CASE("vulkan: an add kernel in the fixed binding layout computes the host's sum") {
  if (!test::haveVulkan())
    return;
  std::shared_ptr<const Device> d = test::testDevice();
  auto add = std::make_shared<const Pipeline>(d, test::assemble(test::addShader()), 3, "add");
  CHECK(add->bindings() == 3);
  const size_t n = 1000; // not a multiple of the workgroup size
  std::vector<float> x = randomFloats(n, 1), y = randomFloats(n, 2);
  // a and e are device memory that staging copies reach, as on a discrete GPU.
  auto a = floats(d, x, Memory::DeviceOnly), b = floats(d, y);
  Buffer c(d, n * 4), e(d, n * 4, Memory::DeviceOnly), f(d, n * 4);

  // c = a + b; e = c + a depends on c; f = a + b does not depend on e.
  CommandList list(d, {Dispatch{add, {whole(*a), whole(*b), whole(c, true)}, groupsOf(n)},
                       Dispatch{add, {whole(c), whole(*a), whole(e, true)}, groupsOf(n)},
                       Dispatch{add, {whole(*a), whole(*b), whole(f, true)}, groupsOf(n)}});
  CHECK(list.size() == 3);
  CHECK(list.barriers() == 1);
  for (int run = 0; run < 2; ++run) {
    list.run();
    std::vector<float> sum = readFloats(c, n), twice = readFloats(e, n), again = readFloats(f, n);
    for (size_t i = 0; i < n; ++i) {
      INFO("element " << i);
      CHECK(sum[i] == x[i] + y[i]);
      CHECK(twice[i] == (x[i] + y[i]) + x[i]);
      CHECK(again[i] == x[i] + y[i]);
    }
  }

  // Bindings at offsets into one buffer, as arenas are bound: the second half gets the sum of
  // the first half and of b's elements from 64 on.
  const int64_t half = 512 * 4;
  Buffer arena(d, 2 * half);
  std::vector<float> lo = randomFloats(512, 3);
  arena.write(0, std::as_bytes(std::span(lo)));
  CommandList offsets(d, {Dispatch{add,
                                   {BufferRange{&arena, 0, half}, BufferRange{b.get(), 256, half},
                                    BufferRange{&arena, half, half, true}},
                                   groupsOf(512)}});
  offsets.run();
  std::vector<float> hi(512);
  arena.read(half, std::as_writable_bytes(std::span(hi)));
  for (size_t i = 0; i < 512; ++i)
    CHECK(hi[i] == lo[i] + y[64 + i]);
}

TEST_CASE("vulkan: an i64 error slot gets the first failing index by OpAtomicSMin") {
  if (!test::haveVulkan())
    return;
  std::shared_ptr<const Device> d = test::testDevice();
  if (!d->features().int64_atomics) {
    // Kernels with traps need shaderBufferInt64Atomics; lavapipe has it.
    MESSAGE("skipped: " << d->name() << " lacks shaderBufferInt64Atomics");
    return;
  }
  auto first = std::make_shared<const Pipeline>(d, test::assemble(test::firstNegativeShader()), 2,
                                                "first_negative");
  const size_t n = 700;
  std::vector<int64_t> values(n);
  for (size_t i = 0; i < n; ++i)
    values[i] = static_cast<int64_t>(i) * 3 + 1;
  Buffer in(d, n * 8), slot(d, 8);
  CommandList list(d, {Dispatch{first, {whole(in), whole(slot, true)}, groupsOf(n)}});
  auto runWith = [&](const std::vector<int64_t> &v) {
    in.write(0, std::as_bytes(std::span(v)));
    int64_t clear = kernel::kTrapClear;
    slot.write(0, std::as_bytes(std::span(&clear, 1)));
    list.run();
    int64_t got = 0;
    slot.read(0, std::as_writable_bytes(std::span(&got, 1)));
    return got;
  };
  CHECK(runWith(values) == kernel::kTrapClear);
  std::vector<int64_t> bad = values;
  for (size_t i : {650, 37, 500, 64})
    bad[i] = -static_cast<int64_t>(i);
  int64_t want = 0;
  while (bad[want] >= 0)
    ++want;
  CHECK(want == 37);
  CHECK(runWith(bad) == want);
  CHECK(runWith(values) == kernel::kTrapClear);
}
