#pragma once
// A GpuProgram on the CUDA driver: one device allocation per program buffer, made once; a PTX
// module per kernel, loaded once; a run's stretch of dispatches launched in order on the
// default stream, then waited for. Every call makes the driver's context current on the
// calling thread (Driver::Current), so an executable runs from any thread.

#include "runtime/cuda/cuda_driver.h"
#include "runtime/gpu/program_executable.h"

#include <memory>

namespace kiln::cuda {

/// Makes a program's buffers and modules on the driver's device. Throws Error with one line
/// when a kernel has no PTX or the driver refuses its PTX.
std::unique_ptr<gpu::DeviceProgram> makeCudaProgram(const gpu::GpuProgram &program,
                                                    const Driver &driver);

} // namespace kiln::cuda
