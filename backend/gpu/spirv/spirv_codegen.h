#pragma once
// The kernel IR to SPIR-V assembly translation, with the dispatch shape it chose.

#include "backend/gpu/spirv/spirv_kernel.h"

namespace kiln::spirv {

/// The assembly text of a kernel and its dispatch; the binary is left empty.
SpirvKernel emitSpirv(const kernel::Kernel &k, const SpirvOptions &o);

} // namespace kiln::spirv
