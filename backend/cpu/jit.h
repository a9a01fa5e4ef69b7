#pragma once
// JIT compilation of kernels: kernel IR to LLVM IR, O3 for the host CPU, ORC LLJIT. All
// kernels of one graph share one module, so the JIT's fixed cost is paid once.

#include "backend/kernel/kernel_ir.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace kiln::cpu {

/// A compiled kernel: runs iterations [begin, end) of its parallel loop on the buffers of its
/// parameters, in kernel.parameters() order.
using KernelFn = void (*)(void *const *buffers, int64_t begin, int64_t end);

/// Machine code for a list of kernels; it lives as long as this object.
class JitKernels {
public:
  /// Compiles the kernels into one module; throws Error when LLVM fails.
  static std::unique_ptr<JitKernels> compile(std::span<const kernel::Kernel> kernels);
  ~JitKernels();
  JitKernels(const JitKernels &) = delete;
  JitKernels &operator=(const JitKernels &) = delete;

  /// The entry point of the i-th kernel.
  KernelFn function(size_t i) const { return functions_.at(i); }

private:
  struct Impl;
  JitKernels();
  std::unique_ptr<Impl> impl_;
  std::vector<KernelFn> functions_;
};

/// The LLVM IR of the kernels after the O3 pipeline for the host, as text.
std::string optimizedIR(std::span<const kernel::Kernel> kernels);

} // namespace kiln::cpu
