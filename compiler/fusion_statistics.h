#pragma once
// What fusion found in a model: how many softmaxes, layer norms, attentions (and how many of
// those causal) and cross-entropies the forward passes turned from the primitives the DSL wrote
// into fused ops. makeTrainStep returns it, so a program can print it and check it.

#include "ir/graph.h"

#include <cstdint>
#include <string>

namespace kiln {

/// Counts of fused ops.
struct FusionStatistics {
  int64_t softmax = 0;       ///< softmax ops (those left outside an attention)
  int64_t layer_norm = 0;    ///< layer_norm ops
  int64_t attention = 0;     ///< attention ops
  int64_t causal = 0;        ///< attention ops with the causal flag (a part of `attention`)
  int64_t cross_entropy = 0; ///< softmax_cross_entropy ops
  /// Equal counts, op by op.
  bool operator==(const FusionStatistics &) const = default;
  /// One line: "attention 2 (causal 2), layer_norm 5, softmax 0, softmax_cross_entropy 1".
  std::string str() const;
};

/// The fused ops of a graph's forward ops (the backward ops, such as attention_grad, are not
/// counted).
FusionStatistics countFusedOps(const Graph &g);

/// after - before, op by op: what a pipeline fused.
FusionStatistics operator-(const FusionStatistics &after, const FusionStatistics &before);

} // namespace kiln
