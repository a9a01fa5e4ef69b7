#include "backend/cpu/kernel_choice.h"

#include "backend/cpu/onednn/onednn.h"
#include "backend/kernel/lower.h"
#include "ir/op_handles.h"
#include "passes/expand_attention.h"
#include "passes/pass_manager.h"

#include <algorithm>
#include <sstream>

namespace kiln::cpu {

KernelPath chooseKernelPath(const Node &node, CpuKernels mode) {
  if (mode == CpuKernels::Jit || node.group >= 0 || !onednn::canCompute(node))
    return KernelPath::Jit;
  if (mode == CpuKernels::OneDnn)
    return KernelPath::OneDnn;
  // A product of a few rows (a decode step's matrix-vector products) is bound by reading the
  // matrix: the JIT's loop over it measured faster than oneDNN's primitive at batch 1 and
  // slower at batch 16.
  if (node.is(op::Matmul)) {
    const TensorType &out = node.result()->type;
    int64_t rows = out.shape.empty() ? 1 : out.numElements() / out.shape.back();
    return rows <= kJitMatmulRows ? KernelPath::Jit : KernelPath::OneDnn;
  }
  bool faster = node.is(op::LayerNormGrad) || node.is(op::Softmax);
  return faster ? KernelPath::OneDnn : KernelPath::Jit;
}

bool expandsAttention(const Node &node, CpuKernels mode) {
  if (mode == CpuKernels::Jit || !(node.is(op::Attention) || node.is(op::AttentionGrad)))
    return false;
  const TensorType &q = node.operands[0]->type, &k = node.operands[1]->type;
  // One query row a head (a decode step): the fused kernel is one pass over the keys, where
  // written out it would be three small primitives and their buffers.
  if (mode == CpuKernels::Auto && q.rank() >= 2 && q.shape[q.rank() - 2] == 1 &&
      kernel::hasLowering(node))
    return false;
  int64_t scores = q.numElements() / q.shape.back() * k.shape[k.rank() - 2];
  // A fused kernel whose locals would not fit a worker's stack runs as the reference kernel,
  // far slower than the GEMMs whatever their memory.
  // Written out, the scores and probabilities are f32 whatever q's dtype (expand_attention.h).
  return mode == CpuKernels::OneDnn || scores * dtypeSize(DType::f32) <= kExpandedScoresBytes ||
         !kernel::hasLowering(node);
}

int expandChosenAttention(Graph &graph, CpuKernels mode) {
  bool fused = std::any_of(graph.nodes().begin(), graph.nodes().end(),
                           [](const auto &n) { return n->group >= 0; });
  ExpandedAttention n =
      expandAttention(graph, [&](const Node &node) { return expandsAttention(node, mode); });
  if (n.forward + n.backward == 0)
    return 0;
  // The pass manager verifies the graph after each pass.
  PassManager pm;
  pm.addPipeline(fused ? "cse,fuse-elementwise" : "cse");
  std::ostringstream unused;
  pm.run(graph, unused);
  return n.forward + n.backward;
}

} // namespace kiln::cpu
