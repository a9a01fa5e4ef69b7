// The helpers of a GPU program.

#include "runtime/gpu/gpu_program.h"

#include <fmt/format.h>

namespace kiln::gpu {

int64_t byteSize(const TensorType &t) { return t.numElements() * dtypeSize(t.dtype); }

int64_t alignUp(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

int GpuProgram::bufferOf(ProgramBuffer::Kind kind, int index) const {
  for (size_t b = 0; b < buffers.size(); ++b)
    if (buffers[b].kind == kind && buffers[b].index == index)
      return static_cast<int>(b);
  throw Error({}, fmt::format("the program has no buffer {} of its kind", index));
}

bool GpuProgram::usesF64() const {
  for (const ProgramKernel &k : kernels)
    if (k.uses_f64)
      return true;
  return false;
}

} // namespace kiln::gpu
