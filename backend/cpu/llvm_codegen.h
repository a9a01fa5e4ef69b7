#pragma once
// Kernel IR to LLVM IR. Internal to backend/cpu: only forward declarations of LLVM here, so
// that including it costs nothing.

#include "backend/kernel/kernel_ir.h"

#include <string>

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace kiln::cpu {

/// Appends `void symbol(void *const *buffers, int64_t begin, int64_t end)` to the module: it
/// runs iterations [begin, end) of the kernel's parallel loop (the whole body when there is
/// none), with buffers[i] pointing at the i-th parameter of kernel.parameters().
void emitKernel(llvm::Module &module, const llvm::TargetMachine &target,
                const kernel::Kernel &kernel, const std::string &symbol);

} // namespace kiln::cpu
