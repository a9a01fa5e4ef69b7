#pragma once
// JIT compilation of kernels: kernel IR to LLVM IR, O3 for the host CPU, object files, ORC
// LLJIT. The kernels of one graph are one module, or for a large graph a few modules of
// consecutive kernels compiled on the host's cores at once; one JIT links them all, so its
// fixed cost is paid once, and those object files are what the compile cache (compile_cache.h)
// keeps.

#include "backend/kernel/kernel_ir.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kiln::cpu {

/// A compiled kernel: runs iterations [begin, end) of its parallel loop on the buffers of its
/// parameters, in kernel.parameters() order.
using KernelFn = void (*)(void *const *buffers, int64_t begin, int64_t end);

/// Where a program's machine code came from.
enum class CodeSource { Compiled, MemoryCache, DiskCache };

/// One program to compile: its kernels and, per kernel, which parameters may be marked noalias
/// (an empty list: all of them; the memory plan clears those that share bytes).
struct JitProgram {
  std::span<const kernel::Kernel> kernels;
  std::span<const std::vector<bool>> noalias;
  /// exp, log, tanh, erf and pow as inline code, as the GPU code generators emit them, instead
  /// of libm calls: tests check that code's numbers on the host.
  bool inline_math = false;
};

/// Machine code for a list of kernels; it lives as long as this object.
class JitKernels {
public:
  /// The program's machine code: from the compile caches when use_cache holds and an entry
  /// checks out, else compiled (and then cached). Throws Error when LLVM fails.
  static std::shared_ptr<const JitKernels> compile(const JitProgram &program, bool use_cache,
                                                   CodeSource *source = nullptr);
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

/// The compile-cache key of a program on this host (see compile_cache.h).
std::string programKey(const JitProgram &program);

/// How often this process has run LLVM's optimiser and code generator on a program; tests of
/// the cache read it.
int64_t codegenRuns();

/// The LLVM IR of the kernels after the O3 pipeline for the host, as text.
std::string optimizedIR(std::span<const kernel::Kernel> kernels);
/// The same for a program with its noalias flags.
std::string optimizedIR(const JitProgram &program);

} // namespace kiln::cpu
