#pragma once
// The CUDA driver API, loaded at run time. kiln never links against CUDA: `libcuda.so.1` (the
// driver that comes with an NVIDIA GPU) is opened with dlopen the first time a program asks
// for it, so kiln builds and runs on machines without the CUDA toolkit or a GPU, and only what
// runs PTX learns that the driver is missing. The handful of driver types
// and entry points kiln uses are declared here rather than taken from the toolkit's cuda.h,
// which machines without the toolkit do not have; their values are the driver API's, which
// NVIDIA keeps stable across releases.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::cuda {

/// A device address.
using DevicePtr = uint64_t;

/// The first device of the CUDA driver: its name, compute capability and memory.
struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0; ///< compute capability (9.0 for an H100 or H200)
  size_t memory_bytes = 0;
};

class Driver;

/// Device memory, freed when the buffer goes.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  ~DeviceBuffer();

  /// The buffer's device address.
  DevicePtr address() const { return address_; }
  /// Its size in bytes.
  size_t size() const { return size_; }

private:
  friend class Driver;
  const Driver *driver_ = nullptr;
  DevicePtr address_ = 0;
  size_t size_ = 0;
};

/// A loaded PTX module and the kernels found in it; unloaded when it goes.
class Module {
public:
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  ~Module();

  /// The kernel of this name; throws Error when the module has none.
  void *function(const std::string &name) const;

private:
  friend class Driver;
  Module(const Driver &driver, void *handle) : driver_(driver), handle_(handle) {}
  const Driver &driver_;
  void *handle_;
};

/// The driver, over the first device's primary context. Every method makes that context
/// current on the calling thread for its duration (cuCtxPushCurrent, then cuCtxPopCurrent), so
/// any thread may call it, and a context the thread had current is current again after.
class Driver {
public:
  /// The driver of this process, opened on first use. Throws Error with one line saying what
  /// is missing: the library ("no CUDA driver: libcuda.so.1 is not installed"), a device, or
  /// an entry point of a driver too old.
  static const Driver &get();

  /// The device the context is on.
  const DeviceInfo &device() const { return device_; }
  /// "sm_90": the PTX target of the device.
  std::string arch() const;

  /// Loads PTX text; the driver's JIT log is in the Error when it refuses it.
  std::unique_ptr<Module> loadPtx(const std::string &ptx, const std::string &name) const;
  /// Allocates `bytes` of device memory (at least one byte).
  DeviceBuffer allocate(size_t bytes) const;
  /// Copies `bytes` host bytes to device memory.
  void copyToDevice(DevicePtr dst, const void *src, size_t bytes) const;
  /// Copies `bytes` bytes of device memory to the host.
  void copyToHost(void *dst, DevicePtr src, size_t bytes) const;
  /// Sets `bytes` bytes at `dst` to `value`.
  void fill(DevicePtr dst, uint8_t value, size_t bytes) const;
  /// Launches a kernel on the default stream; `args` point at each argument's value.
  void launch(void *function, int64_t grid, int64_t block, int64_t shared_bytes,
              std::vector<void *> &args) const;
  /// Waits for every launch and copy; a fault in a kernel surfaces here.
  void synchronize() const;

  Driver(const Driver &) = delete;
  Driver &operator=(const Driver &) = delete;
  ~Driver();

  struct Api; ///< the entry points, resolved by dlsym

  /// The device's context made current on this thread while it lives.
  class Current {
  public:
    /// Pushes the driver's context on this thread's stack.
    explicit Current(const Driver &driver);
    /// Pops it.
    ~Current();
    Current(const Current &) = delete;
    Current &operator=(const Current &) = delete;

  private:
    const Driver &driver_;
  };

private:
  friend class DeviceBuffer;
  friend class Module;
  Driver();
  /// Throws Error naming `what` and the driver's name for `result` unless it is success.
  void check(int result, const char *what) const;

  void *library_ = nullptr;
  std::unique_ptr<Api> api_;
  int device_handle_ = 0;
  void *context_ = nullptr;
  DeviceInfo device_;
};

} // namespace kiln::cuda
