#pragma once
// Each primitive kind's two entry points, gathered by onednn.cpp. Internal to backend/cpu/onednn.

#include "backend/cpu/onednn/onednn.h"

namespace kiln::cpu::onednn {

bool matmulCanCompute(const Node &node);
std::unique_ptr<Primitive> createMatmul(const Node &node);

bool layerNormCanCompute(const Node &node);
std::unique_ptr<Primitive> createLayerNorm(const Node &node); ///< layer_norm and its grad

bool softmaxCanCompute(const Node &node);
std::unique_ptr<Primitive> createSoftmax(const Node &node); ///< softmax and softmax_grad

bool reductionCanCompute(const Node &node);
std::unique_ptr<Primitive> createReduction(const Node &node); ///< reduce_sum, _max, _mean

} // namespace kiln::cpu::onednn
