#pragma once
// The CUDA backend: every node with a kernel-IR lowering runs as a PTX kernel (backend/gpu/ptx)
// on the CUDA driver's first device, over the same GPU program as the Vulkan backend
// (program_builder.h); the others run on their reference kernels on the host between
// launches. Device buffers are allocated once per executable; parameters and state stay on the
// device, updated in place. Where there is no driver or no device, compiling is an Error of
// one line.

#include "backend/backend.h"

namespace kiln {

/// The registered CUDA backend (`--backend cuda`).
const Backend &cudaBackend();

/// The PTX architecture emitPtx targets for a device of compute capability major.minor:
/// sm_90 from 9.0 on, sm_80 from 8.0 on; throws Error for an older device.
std::string ptxArchFor(int major, int minor);

} // namespace kiln
