// `--backend cuda`: graphs built into GPU programs of PTX kernels, run on the CUDA driver.

#include "backend/gpu/cuda/cuda_backend.h"

#include "backend/gpu/program/program_builder.h"
#include "backend/gpu/ptx/ptx.h"
#include "backend/kernel/lower.h"
#include "runtime/cuda/cuda_program.h"

#include <fmt/format.h>

#include <map>
#include <mutex>

namespace kiln {
namespace {

class CudaBackend final : public Backend {
public:
  std::string_view name() const override { return "cuda"; }
  std::string_view summary() const override {
    return "PTX kernels on an NVIDIA GPU through the CUDA driver (libcuda.so.1, loaded at run "
           "time); reference kernels on the host for the other ops";
  }
  bool supports(const Node &node) const override { return kernel::hasLowering(node); }

  std::string unavailable() const override {
    try {
      cuda::Driver::get();
      return {};
    } catch (const Error &e) {
      return fmt::format("--backend cuda: {}", e.message());
    }
  }

  std::unique_ptr<Executable> compile(const Graph &graph, const CompileOptions &) const override {
    if (std::string why = unavailable(); !why.empty())
      throw Error({}, why);
    const cuda::Driver *driver = &cuda::Driver::get();
    std::string arch = ptxArchFor(driver->device().major, driver->device().minor);
    std::lock_guard lock(mutex_);
    gpu::ProgramTarget target;
    target.compile = [&](const kernel::Kernel &k) -> std::optional<gpu::ProgramKernel> {
      std::string id = kernel::identity(k);
      auto c = ptx_.find(id);
      if (c == ptx_.end()) {
        gpu::PtxModule m = gpu::emitPtx({k}, {.arch = arch, .separate = true});
        c = ptx_.emplace(id, std::move(m.kernels.front())).first;
      }
      const gpu::PtxKernel &p = c->second;
      return gpu::ProgramKernel{.ptx = p.ptx,
                                .grid = p.launch.grid,
                                .block = p.launch.block,
                                .shared_bytes = p.launch.shared_bytes};
    };
    gpu::BuiltProgram built = gpu::buildProgram(graph, target);
    std::unique_ptr<gpu::DeviceProgram> on_device = cuda::makeCudaProgram(*built.program, *driver);
    return std::make_unique<gpu::ProgramExecutable>(
        built.program, std::move(on_device),
        gpu::graphHostSteps(built.graph, std::move(built.host)));
  }

private:
  mutable std::mutex mutex_;
  mutable std::map<std::string, gpu::PtxKernel> ptx_; ///< compiled kernels by identity
};

} // namespace

std::string ptxArchFor(int major, int minor) {
  if (major >= 9)
    return "sm_90";
  if (major >= 8)
    return "sm_80";
  throw Error({}, fmt::format("--backend cuda: the GPU's compute capability {}.{} is older "
                              "than kiln's PTX targets (sm_80, sm_90)",
                              major, minor));
}

const Backend &cudaBackend() {
  static const CudaBackend backend;
  return backend;
}

} // namespace kiln
