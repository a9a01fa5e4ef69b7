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
  bool faster = node.is(op::Matmul) || node.is(op::LayerNormGrad) || node.is(op::Softmax);
  return faster ? KernelPath::OneDnn : KernelPath::Jit;
}

bool expandsAttention(const Node &node, CpuKernels mode) {
  if (mode == CpuKernels::Jit || !(node.is(op::Attention) || node.is(op::AttentionGrad)))
    return false;
  const TensorType &q = node.operands[0]->type, &k = node.operands[1]->type;
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
