#pragma once
// expand-attention: the inverse of fuse-attention. It writes attention and attention_grad out
// as the matrix products, softmax and elementwise ops they are made of, so that a backend whose
// fastest attention at a size is two library GEMMs around a softmax (oneDNN on the CPU at the
// Transformer's lengths) can run it that way, while the graph keeps the fused op everywhere
// else. A backend decides which nodes to expand; the pass expands them all.

#include "ir/graph.h"

#include <functional>

namespace kiln {

/// How many attention and attention_grad nodes an expansion wrote out.
struct ExpandedAttention {
  int forward = 0, backward = 0;
};

/// Replaces each attention and attention_grad node that `select` accepts with its pieces:
///   s = matmul(q, k^T) * scale, masked (select -inf or add), causal (select -inf above the
///   diagonal); p = softmax(s); kept = select(random_uniform(seed) >= dropout, p / (1 - dropout),
///   0); out = matmul(kept, v). attention_grad recomputes p and kept the same way (cse merges
///   them with a forward's), then dv = kept^T g, ds = softmax_grad(p, dropout'(g v^T)) * scale,
///   dq = ds k, dk = ds^T q. The numbers are those of the fused op's reference kernel.
ExpandedAttention expandAttention(Graph &g, const std::function<bool(const Node &)> &select);

} // namespace kiln
