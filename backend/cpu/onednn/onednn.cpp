// The nodes oneDNN computes, each op's primitive in a file of its own.

#include "backend/cpu/onednn/onednn.h"

#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

#include <fmt/format.h>

namespace kiln::cpu::onednn {

bool canCompute(const Node &node) {
  if (node.is(op::Matmul))
    return matmulCanCompute(node);
  if (node.is(op::LayerNorm) || node.is(op::LayerNormGrad))
    return layerNormCanCompute(node);
  if (node.is(op::Softmax) || node.is(op::SoftmaxGrad))
    return softmaxCanCompute(node);
  if (node.is(op::ReduceSum) || node.is(op::ReduceMax) || node.is(op::ReduceMean))
    return reductionCanCompute(node);
  return false;
}

std::unique_ptr<Primitive> create(const Node &node, int threads) {
  KILN_ASSERT(canCompute(node), "a node oneDNN does not compute was given to it");
  ScopedThreads scope(threads);
  if (node.is(op::Matmul))
    return createMatmul(node);
  if (node.is(op::LayerNorm) || node.is(op::LayerNormGrad))
    return createLayerNorm(node);
  if (node.is(op::Softmax) || node.is(op::SoftmaxGrad))
    return createSoftmax(node);
  if (node.is(op::ReduceSum) || node.is(op::ReduceMax) || node.is(op::ReduceMean))
    return createReduction(node);
  return nullptr;
}

dnnl::memory::data_type dataType(DType dtype) {
  return dtype == DType::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

dnnl::memory::desc plainDesc(const Shape &shape, DType dtype) {
  dnnl::memory::dims dims(shape.begin(), shape.end()), strides;
  for (int64_t s : stridesOf(shape))
    strides.push_back(s);
  return {dims, dataType(dtype), strides};
}

std::string version() {
  const dnnl_version_t *v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

} // namespace kiln::cpu::onednn
