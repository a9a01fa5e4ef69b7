// A GpuProgram's buffers, modules and launches on the CUDA driver.

#include "runtime/cuda/cuda_program.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln::cuda {
namespace {

/// One launch: the kernel, its grid, and the addresses its parameters take.
struct Launch {
  void *function = nullptr;
  int64_t grid = 1, block = 1, shared_bytes = 0;
  std::vector<DevicePtr> addresses;
};

class CudaProgram final : public gpu::DeviceProgram {
public:
  CudaProgram(const gpu::GpuProgram &program, const Driver &driver) : driver_(driver) {
    for (const gpu::ProgramBuffer &b : program.buffers)
      buffers_.push_back(driver.allocate(static_cast<size_t>(b.bytes + gpu::kBufferPadding)));
    std::vector<void *> functions;
    for (const gpu::ProgramKernel &k : program.kernels) {
      if (k.ptx.empty())
        throw Error({}, fmt::format("kernel {} has no PTX: the program was not compiled for "
                                    "CUDA",
                                    k.name));
      modules_.push_back(driver.loadPtx(k.ptx, k.name));
      functions.push_back(modules_.back()->function(k.name));
    }
    launches_.resize(program.steps.size());
    for (size_t s = 0; s < program.steps.size(); ++s) {
      const auto *d = std::get_if<gpu::DispatchStep>(&program.steps[s]);
      if (!d)
        continue;
      const gpu::ProgramKernel &k = program.kernels[d->kernel];
      Launch &l = launches_[s];
      l.function = functions[d->kernel];
      l.grid = k.grid;
      l.block = k.block;
      l.shared_bytes = k.shared_bytes;
      for (const gpu::Slice &sl : d->bindings)
        l.addresses.push_back(buffers_[sl.buffer].address() + static_cast<DevicePtr>(sl.offset));
    }
  }

  void write(int buffer, int64_t offset, std::span<const std::byte> bytes) override {
    driver_.copyToDevice(buffers_[buffer].address() + static_cast<DevicePtr>(offset), bytes.data(),
                         bytes.size());
  }
  void read(int buffer, int64_t offset, std::span<std::byte> out) const override {
    driver_.copyToHost(out.data(), buffers_[buffer].address() + static_cast<DevicePtr>(offset),
                       out.size());
  }
  void dispatch(size_t first, size_t last) override {
    Driver::Current current(driver_);
    for (size_t s = first; s < last; ++s) {
      Launch &l = launches_[s];
      std::vector<void *> args;
      for (DevicePtr &a : l.addresses)
        args.push_back(&a);
      driver_.launch(l.function, l.grid, l.block, l.shared_bytes, args);
    }
    driver_.synchronize();
  }
  std::string name() const override { return driver_.device().name; }
  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    int64_t launches = 0;
    for (const Launch &l : launches_)
      launches += l.function != nullptr;
    return {{"launches", launches}};
  }

private:
  const Driver &driver_;
  std::vector<DeviceBuffer> buffers_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<Launch> launches_; ///< by step; empty for host steps
};

} // namespace

std::unique_ptr<gpu::DeviceProgram> makeCudaProgram(const gpu::GpuProgram &program,
                                                    const Driver &driver) {
  return std::make_unique<CudaProgram>(program, driver);
}

} // namespace kiln::cuda
