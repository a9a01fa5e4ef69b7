// The CUDA driver, opened at run time: where libcuda.so.1 is missing (machines without an
// NVIDIA GPU) it is one clear error; where it is present, a small PTX kernel runs on the GPU.

#include "ir/diagnostics.h"
#include "runtime/cuda/cuda_driver.h"

#include <dlfcn.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace kiln;

namespace {

// Adds 1 to each of n floats: one thread an element.
const char *kAddOne = R"(
.version 7.8
.target sm_80
.address_size 64

.visible .entry add_one(.param .u64 data, .param .u32 n) {
  .reg .b32 %r<6>;
  .reg .b64 %rd<4>;
  .reg .f32 %f<3>;
  .reg .pred %p;
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.s32 %r4, %r1, %r2, %r3;
  ld.param.u32 %r5, [n];
  setp.ge.u32 %p, %r4, %r5;
  @%p bra DONE;
  ld.param.u64 %rd1, [data];
  cvta.to.global.u64 %rd1, %rd1;
  mul.wide.u32 %rd2, %r4, 4;
  add.s64 %rd3, %rd1, %rd2;
  ld.global.f32 %f1, [%rd3];
  add.f32 %f2, %f1, 0f3F800000;
  st.global.f32 [%rd3], %f2;
DONE:
  ret;
}
)";

bool driverInstalled() {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  return library != nullptr;
}

} // namespace

TEST_CASE("cuda driver: missing, it is one line; present, a PTX kernel runs") {
  if (!driverInstalled()) {
    MESSAGE("libcuda.so.1 is not installed: only the missing-driver error is checked");
    CHECK_THROWS_WITH_AS(cuda::Driver::get(),
                         doctest::Contains("no CUDA driver: libcuda.so.1 is not installed"), Error);
    // The failure is remembered: the same line again.
    CHECK_THROWS_WITH_AS(cuda::Driver::get(), doctest::Contains("no CUDA driver"), Error);
    return;
  }
  const cuda::Driver *found = nullptr;
  try {
    found = &cuda::Driver::get();
  } catch (const Error &e) {
    // A driver without a GPU (a container, a machine whose GPU is gone): one line.
    MESSAGE("libcuda.so.1 is installed but gives no device: " << e.what());
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
    return;
  }
  const cuda::Driver &driver = *found;
  CHECK(!driver.device().name.empty());
  CHECK(driver.arch().rfind("sm_", 0) == 0);
  std::unique_ptr<cuda::Module> module = driver.loadPtx(kAddOne, "add_one.ptx");
  void *add_one = module->function("add_one");
  CHECK_THROWS_WITH_AS(module->function("missing"), doctest::Contains("finding kernel missing"),
                       Error);
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = static_cast<float>(i);
  cuda::DeviceBuffer data = driver.allocate(host.size() * sizeof(float));
  driver.copyToDevice(data.address(), host.data(), host.size() * sizeof(float));
  uint64_t address = data.address();
  uint32_t n = static_cast<uint32_t>(host.size());
  std::vector<void *> args = {&address, &n};
  driver.launch(add_one, 4, 256, 0, args);
  driver.synchronize();
  std::vector<float> back(host.size());
  driver.copyToHost(back.data(), data.address(), back.size() * sizeof(float));
  for (size_t i = 0; i < host.size(); ++i)
    CHECK(back[i] == host[i] + 1);
  CHECK_THROWS_WITH_AS(driver.loadPtx("not ptx", "bad.ptx"),
                       doctest::Contains("bad.ptx: error: the CUDA driver refuses this PTX"),
                       Error);
}
