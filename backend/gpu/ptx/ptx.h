#pragma once
// Kernel IR to PTX through LLVM's NVPTX target. Each kernel becomes one `.entry` whose
// parameters are the kernel's (Kernel::parameters(), in order, as global pointers), then its
// error slot (one i64 per trap) when it has traps.
//
// The threads: a kernel whose body is a parallel loop spreads its iterations over every thread
// of the grid (global thread id, grid-stride, so any grid is correct); one whose body is a group
// loop runs a group per block (blockIdx.x, grid-stride over groups) and spreads its worker
// loops over the block's threads (threadIdx.x, block-stride), with barriers as bar.sync and
// group reductions through shared memory; any other kernel runs in one thread. Local buffers
// and the reduction scratch live in dynamic shared memory (one extern `.shared` array,
// `shared_bytes` of it per block); constant tables are global constants.
//
// Nothing here runs PTX: the numbers follow ScalarEmitter's semantics (with inline math, as
// NVPTX has no libm), but no GPU has checked them.

#include "backend/kernel/kernel_ir.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::gpu {

/// How to compile.
struct PtxOptions {
  std::string arch = "sm_90"; ///< the GPU: sm_90 or sm_80
  int64_t max_block = 256;    ///< the most threads per block (a power of two, 32 to 1024)
  /// Each kernel in a module of its own (PtxKernel::ptx and llvm_ir filled), instead of one
  /// module for all (PtxModule::ptx and llvm_ir).
  bool separate = false;
};

/// The launch of one kernel.
struct PtxLaunch {
  int64_t grid = 1;         ///< blocks (x); any grid is correct, this one covers the work once
  int64_t block = 1;        ///< threads per block (x); group kernels require exactly this many
  int64_t shared_bytes = 0; ///< dynamic shared memory per block
};

/// One compiled kernel.
struct PtxKernel {
  std::string name;    ///< the `.entry` name: the kernel's
  PtxLaunch launch;    ///< how to launch it
  std::string ptx;     ///< its own module's PTX (PtxOptions::separate only)
  std::string llvm_ir; ///< its own module's NVPTX LLVM IR, optimised (separate only)
};

/// Compiled kernels.
struct PtxModule {
  std::vector<PtxKernel> kernels; ///< in the order given
  std::string ptx;                ///< every kernel in one module (unless separate)
  std::string llvm_ir;            ///< that module's NVPTX LLVM IR, optimised (unless separate)
};

/// The architectures that emitPtx accepts ("sm_90", "sm_80").
const std::vector<std::string> &ptxArchitectures();

/// The launch configuration of a kernel under these options.
PtxLaunch ptxLaunch(const kernel::Kernel &k, const PtxOptions &options);

/// Compiles kernels to PTX. Throws Error for an unknown architecture, a bad max_block, two
/// kernels of one name, or a kernel whose shared memory exceeds what a block may have.
PtxModule emitPtx(const std::vector<kernel::Kernel> &kernels, const PtxOptions &options = {});

} // namespace kiln::gpu
