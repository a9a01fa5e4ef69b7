#pragma once
// Kernel IR to LLVM IR. Internal to backend/cpu: only forward declarations of LLVM here, so
// that including it costs nothing.

#include "backend/kernel/kernel_ir.h"

#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace kiln::cpu {

/// Appends `void symbol(void *const *buffers, int64_t begin, int64_t end)` to the module: it
/// runs iterations [begin, end) of the kernel's parallel loop (the whole body when there is
/// none), with buffers[i] pointing at the i-th parameter of kernel.parameters() and, for a kernel
/// with traps, buffers[parameters().size()] at its error slot (int64_t[traps.size()]). Parameter i
/// is marked noalias when noalias[i] holds (every parameter when noalias is empty). With
/// `inline_math`, exp, log, tanh, erf and pow are inline code (codegen::MathLowering::Inline).
void emitKernel(llvm::Module &module, const llvm::TargetMachine &target,
                const kernel::Kernel &kernel, const std::string &symbol,
                const std::vector<bool> &noalias = {}, bool inline_math = false);

/// When this file was compiled: part of the compile cache's key, so that machine code cached
/// by an older build of the code generator is never reused.
const char *codegenBuildStamp();

} // namespace kiln::cpu
