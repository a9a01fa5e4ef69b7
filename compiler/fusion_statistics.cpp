#include "compiler/fusion_statistics.h"

#include "ir/op_handles.h"

#include <fmt/format.h>

namespace kiln {

FusionStatistics countFusedOps(const Graph &g) {
  FusionStatistics s;
  for (const auto &n : g.nodes()) {
    if (n->is(op::Softmax))
      ++s.softmax;
    else if (n->is(op::LayerNorm))
      ++s.layer_norm;
    else if (n->is(op::SoftmaxCrossEntropy))
      ++s.cross_entropy;
    else if (n->is(op::Attention)) {
      ++s.attention;
      s.causal += n->getBool("causal") ? 1 : 0;
    }
  }
  return s;
}

FusionStatistics operator-(const FusionStatistics &after, const FusionStatistics &before) {
  return {after.softmax - before.softmax, after.layer_norm - before.layer_norm,
          after.attention - before.attention, after.causal - before.causal,
          after.cross_entropy - before.cross_entropy};
}

std::string FusionStatistics::str() const {
  return fmt::format("attention {} (causal {}), layer_norm {}, softmax {}, "
                     "softmax_cross_entropy {}",
                     attention, causal, layer_norm, softmax, cross_entropy);
}

} // namespace kiln
