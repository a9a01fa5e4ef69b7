#pragma once
// Each primitive kind's two entry points, gathered by onednn.cpp. Internal to backend/cpu/onednn.

#include "backend/cpu/onednn/onednn.h"

namespace kiln::cpu::onednn {

bool matmulCanCompute(const Node &node);
std::unique_ptr<Primitive> createMatmul(const Node &node);

} // namespace kiln::cpu::onednn
