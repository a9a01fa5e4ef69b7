#include "backend/cpu/kernel_choice.h"

#include "backend/cpu/onednn/onednn.h"
#include "ir/op_handles.h"

namespace kiln::cpu {

KernelPath chooseKernelPath(const Node &node, CpuKernels mode) {
  if (mode == CpuKernels::Jit || node.group >= 0 || !onednn::canCompute(node))
    return KernelPath::Jit;
  if (mode == CpuKernels::OneDnn)
    return KernelPath::OneDnn;
  return node.is(op::Matmul) ? KernelPath::OneDnn : KernelPath::Jit;
}

} // namespace kiln::cpu
