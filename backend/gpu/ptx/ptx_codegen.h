#pragma once
// Internal to backend/gpu/ptx: one kernel as an NVPTX kernel function of an LLVM module. Only
// forward declarations of LLVM here.

#include "backend/gpu/ptx/ptx.h"

namespace llvm {
class Module;
} // namespace llvm

namespace kiln::gpu {

/// Appends kernel `k` to an nvptx64 module as `.entry` k.name, for launches of `launch.block`
/// threads per block, and marks it a kernel in nvvm.annotations.
void emitPtxKernel(llvm::Module &module, const kernel::Kernel &k, const PtxLaunch &launch);

} // namespace kiln::gpu
