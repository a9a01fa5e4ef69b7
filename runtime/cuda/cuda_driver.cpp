#include "runtime/cuda/cuda_driver.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <mutex>
#include <optional>

namespace kiln::cuda {

// The driver API's types as the ABI has them: handles are pointers, a device is an int, a
// device address 64 bits, a result an int (0: CUDA_SUCCESS).
using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUdeviceptr = unsigned long long;

// Enumerators of cuda.h that kiln passes.
constexpr int kAttrComputeMajor = 75;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeMinor = 76;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
constexpr int kJitErrorLogBuffer = 5;    // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogSize = 6;      // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
constexpr int kFuncMaxDynamicShared = 8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES

struct Driver::Api {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceTotalMem_v2)(size_t *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease_v2)(CUdevice);
  CUresult (*cuCtxPushCurrent_v2)(CUcontext);
  CUresult (*cuCtxPopCurrent_v2)(CUcontext *);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree_v2)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD_v2)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH_v2)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8_v2)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void **, void **);
  CUresult (*cuCtxSynchronize)();
};

namespace {

// Resolves one entry point into `slot`; a driver without it is too old for kiln.
template <typename F> void resolve(void *library, const char *name, F &slot) {
  void *symbol = dlsym(library, name);
  if (!symbol)
    throw Error({}, fmt::format("the CUDA driver lacks {}: it is older than kiln needs", name));
  slot = reinterpret_cast<F>(symbol);
}

} // namespace

Driver::Driver() : api_(std::make_unique<Api>()) {
  library_ = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library_)
    throw Error({}, "no CUDA driver: libcuda.so.1 is not installed (it comes with an NVIDIA "
                    "GPU's driver)");
  Api &a = *api_;
#define KILN_RESOLVE(name) resolve(library_, #name, a.name)
  KILN_RESOLVE(cuInit);
  KILN_RESOLVE(cuGetErrorName);
  KILN_RESOLVE(cuDeviceGetCount);
  KILN_RESOLVE(cuDeviceGet);
  KILN_RESOLVE(cuDeviceGetName);
  KILN_RESOLVE(cuDeviceGetAttribute);
  KILN_RESOLVE(cuDeviceTotalMem_v2);
  KILN_RESOLVE(cuDevicePrimaryCtxRetain);
  KILN_RESOLVE(cuDevicePrimaryCtxRelease_v2);
  KILN_RESOLVE(cuCtxPushCurrent_v2);
  KILN_RESOLVE(cuCtxPopCurrent_v2);
  KILN_RESOLVE(cuModuleLoadDataEx);
  KILN_RESOLVE(cuModuleUnload);
  KILN_RESOLVE(cuModuleGetFunction);
  KILN_RESOLVE(cuFuncSetAttribute);
  KILN_RESOLVE(cuMemAlloc_v2);
  KILN_RESOLVE(cuMemFree_v2);
  KILN_RESOLVE(cuMemcpyHtoD_v2);
  KILN_RESOLVE(cuMemcpyDtoH_v2);
  KILN_RESOLVE(cuMemsetD8_v2);
  KILN_RESOLVE(cuLaunchKernel);
  KILN_RESOLVE(cuCtxSynchronize);
#undef KILN_RESOLVE

  check(a.cuInit(0), "cuInit");
  int count = 0;
  check(a.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    throw Error({}, "the CUDA driver sees no GPU");
  check(a.cuDeviceGet(&device_handle_, 0), "cuDeviceGet");
  char name[256] = {};
  check(a.cuDeviceGetName(name, sizeof name - 1, device_handle_), "cuDeviceGetName");
  device_.name = name;
  check(a.cuDeviceGetAttribute(&device_.major, kAttrComputeMajor, device_handle_),
        "cuDeviceGetAttribute");
  check(a.cuDeviceGetAttribute(&device_.minor, kAttrComputeMinor, device_handle_),
        "cuDeviceGetAttribute");
  check(a.cuDeviceTotalMem_v2(&device_.memory_bytes, device_handle_), "cuDeviceTotalMem");
  check(a.cuDevicePrimaryCtxRetain(&context_, device_handle_), "cuDevicePrimaryCtxRetain");
}

Driver::Current::Current(const Driver &driver) : driver_(driver) {
  driver.check(driver.api_->cuCtxPushCurrent_v2(driver.context_), "cuCtxPushCurrent");
}

Driver::Current::~Current() {
  CUcontext popped = nullptr;
  driver_.api_->cuCtxPopCurrent_v2(&popped);
}

Driver::~Driver() {
  if (context_)
    api_->cuDevicePrimaryCtxRelease_v2(device_handle_);
  // The library stays loaded: the driver's own threads may outlive this object at exit.
}

const Driver &Driver::get() {
  // Opened once; a failure is remembered, so every later call gives the same line.
  static std::once_flag once;
  static std::unique_ptr<Driver> driver;
  static std::optional<Error> failure;
  std::call_once(once, [] {
    try {
      driver.reset(new Driver());
    } catch (const Error &e) {
      failure = e;
    }
  });
  if (failure)
    throw *failure;
  return *driver;
}

void Driver::check(int result, const char *what) const {
  if (result == 0)
    return;
  const char *name = nullptr;
  if (api_->cuGetErrorName(result, &name) != 0 || !name)
    name = "an unknown error";
  throw Error({}, fmt::format("CUDA: {} failed: {} ({})", what, name, result));
}

std::string Driver::arch() const { return fmt::format("sm_{}{}", device_.major, device_.minor); }

std::unique_ptr<Module> Driver::loadPtx(const std::string &ptx, const std::string &name) const {
  Current current(*this);
  std::string log(8192, '\0');
  int options[] = {kJitErrorLogBuffer, kJitErrorLogSize};
  void *values[] = {log.data(), reinterpret_cast<void *>(log.size())};
  CUmodule handle = nullptr;
  CUresult r = api_->cuModuleLoadDataEx(&handle, ptx.c_str(), 2, options, values);
  if (r != 0) {
    log.resize(log.find('\0'));
    const char *error = nullptr;
    api_->cuGetErrorName(r, &error);
    throw Error({name},
                fmt::format("the CUDA driver refuses this PTX for {}: {}{}{}", arch(),
                            error ? error : "an unknown error", log.empty() ? "" : "\n", log));
  }
  return std::unique_ptr<Module>(new Module(*this, handle));
}

Module::~Module() {
  Driver::Current current(driver_);
  driver_.api_->cuModuleUnload(handle_);
}

void *Module::function(const std::string &name) const {
  Driver::Current current(driver_);
  CUfunction f = nullptr;
  driver_.check(driver_.api_->cuModuleGetFunction(&f, handle_, name.c_str()),
                fmt::format("finding kernel {}", name).c_str());
  return f;
}

DeviceBuffer Driver::allocate(size_t bytes) const {
  Current current(*this);
  DeviceBuffer b;
  CUdeviceptr p = 0;
  check(api_->cuMemAlloc_v2(&p, std::max<size_t>(bytes, 1)),
        fmt::format("allocating {} bytes", bytes).c_str());
  b.driver_ = this;
  b.address_ = p;
  b.size_ = bytes;
  return b;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    if (driver_ && address_) {
      Driver::Current current(*driver_);
      driver_->api_->cuMemFree_v2(address_);
    }
    driver_ = other.driver_;
    address_ = other.address_;
    size_ = other.size_;
    other.driver_ = nullptr;
    other.address_ = 0;
    other.size_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (driver_ && address_) {
    Driver::Current current(*driver_);
    driver_->api_->cuMemFree_v2(address_);
  }
}

void Driver::copyToDevice(DevicePtr dst, const void *src, size_t bytes) const {
  Current current(*this);
  if (bytes)
    check(api_->cuMemcpyHtoD_v2(dst, src, bytes), "copying to the device");
}

void Driver::copyToHost(void *dst, DevicePtr src, size_t bytes) const {
  Current current(*this);
  if (bytes)
    check(api_->cuMemcpyDtoH_v2(dst, src, bytes), "copying from the device");
}

void Driver::fill(DevicePtr dst, uint8_t value, size_t bytes) const {
  Current current(*this);
  if (bytes)
    check(api_->cuMemsetD8_v2(dst, value, bytes), "filling device memory");
}

void Driver::launch(void *function, int64_t grid, int64_t block, int64_t shared_bytes,
                    std::vector<void *> &args) const {
  Current current(*this);
  if (grid < 1 || grid > INT32_MAX || block < 1 || block > 1024 || shared_bytes < 0 ||
      shared_bytes > INT32_MAX)
    throw Error({}, fmt::format("CUDA: a launch of {} blocks of {} threads with {} bytes of "
                                "shared memory is out of the device's range",
                                grid, block, shared_bytes));
  // Beyond 48 KiB a kernel must ask for its dynamic shared memory.
  if (shared_bytes > 48 * 1024)
    check(api_->cuFuncSetAttribute(function, kFuncMaxDynamicShared, static_cast<int>(shared_bytes)),
          "raising a kernel's shared memory");
  check(api_->cuLaunchKernel(function, static_cast<unsigned>(grid), 1, 1,
                             static_cast<unsigned>(block), 1, 1,
                             static_cast<unsigned>(shared_bytes), nullptr, args.data(), nullptr),
        "launching a kernel");
}

void Driver::synchronize() const {
  Current current(*this);
  check(api_->cuCtxSynchronize(), "running kernels");
}

} // namespace kiln::cuda
