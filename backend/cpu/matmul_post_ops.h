#pragma once
// Which adds and relus a oneDNN matmul computes as post-ops of its primitive, so that its result
// is written once instead of the product being written, then read again (a bias, a residual, the
// two parts of a gradient; a feed-forward layer's bias and activation). A chain qualifies when
// it follows the matmul at once (the next node, or a fusion group whose members are the next
// nodes), carries the product, its only reader, through adds of values from outside it and
// relus, each link read once by the next, and when its result's bytes under the memory plan
// overlap none of the matmul's operands or addends: writing it at the matmul's step then
// clobbers nothing. The executable runs these; `--print-kernels` shows them.

#include "backend/backend.h"
#include "backend/cpu/onednn/onednn.h"
#include "backend/memory_plan.h"

#include <memory>
#include <vector>

namespace kiln::cpu {

/// A matmul and the nodes its primitive computes after it.
struct PostOpChain {
  const Node *matmul = nullptr;
  std::vector<const Node *> links;              ///< the add, or a group's members, in order
  std::vector<const Value *> addends;           ///< each add's other operand, in order
  std::unique_ptr<onednn::Primitive> primitive; ///< the matmul with the chain as post-ops
};

/// The chains of a graph whose oneDNN primitives exist, for a plan of that graph.
std::vector<PostOpChain> matmulPostOps(const Graph &graph, const MemoryPlan &plan, CpuKernels mode,
                                       int threads);

} // namespace kiln::cpu
