#pragma once
// Each primitive kind's two entry points, gathered by onednn.cpp. Internal to backend/cpu/onednn.

#include "backend/cpu/onednn/onednn.h"
#include "backend/cpu/onednn/onednn_context.h"

#include <memory>

namespace kiln::cpu::onednn {

/// oneDNN's data type of an f32 or bf16 tensor.
dnnl::memory::data_type dataType(DType dtype);
/// The descriptor of a row-major tensor of this shape and dtype (f32 or bf16).
dnnl::memory::desc plainDesc(const Shape &shape, DType dtype);

/// The primitive `make()` creates for a node; nullptr when oneDNN has no implementation for
/// its shapes or layout (so the node runs on the JIT loops). Any other oneDNN error is an
/// Error at the node.
template <typename F> std::unique_ptr<Primitive> createOrNull(const Node &n, F &&make) {
  try {
    return make();
  } catch (const dnnl::error &e) {
    if (e.status == dnnl_unimplemented)
      return nullptr;
    throw Error(n.loc, fmt::format("oneDNN {} could not be created: {}", n.name(), e.what()));
  }
}

bool matmulCanCompute(const Node &node);
std::unique_ptr<Primitive> createMatmul(const Node &node);

bool layerNormCanCompute(const Node &node);
std::unique_ptr<Primitive> createLayerNorm(const Node &node); ///< layer_norm and its grad

bool softmaxCanCompute(const Node &node);
std::unique_ptr<Primitive> createSoftmax(const Node &node); ///< softmax and softmax_grad

bool reductionCanCompute(const Node &node);
std::unique_ptr<Primitive> createReduction(const Node &node); ///< reduce_sum, _max, _mean

} // namespace kiln::cpu::onednn
