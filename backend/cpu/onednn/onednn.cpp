// The nodes oneDNN computes, each op's primitive in a file of its own.

#include "backend/cpu/onednn/onednn.h"

#include "backend/cpu/onednn/onednn_context.h"
#include "backend/cpu/onednn/onednn_primitives.h"

#include "ir/op_handles.h"

#include <fmt/format.h>

#include <initializer_list>

namespace kiln::cpu::onednn {

namespace {

/// Each primitive kind: the ops it computes and its two entry points.
struct Kind {
  std::initializer_list<OpHandle> ops;
  bool (*can_compute)(const Node &);
  std::unique_ptr<Primitive> (*create)(const Node &);
};

const Kind *kindOf(const Node &node) {
  static const Kind kinds[] = {
      {{op::Matmul}, matmulCanCompute, createMatmul},
      {{op::LayerNorm, op::LayerNormGrad}, layerNormCanCompute, createLayerNorm},
      {{op::Softmax, op::SoftmaxGrad}, softmaxCanCompute, createSoftmax},
      {{op::ReduceSum, op::ReduceMax, op::ReduceMean}, reductionCanCompute, createReduction},
  };
  for (const Kind &k : kinds)
    for (OpHandle h : k.ops)
      if (node.is(h))
        return &k;
  return nullptr;
}

} // namespace

bool canCompute(const Node &node) {
  const Kind *k = kindOf(node);
  return k && k->can_compute(node);
}

std::unique_ptr<Primitive> create(const Node &node, int threads) {
  KILN_ASSERT(canCompute(node), "a node oneDNN does not compute was given to it");
  ScopedThreads scope(threads);
  return kindOf(node)->create(node);
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
