#pragma once
// The operand roles of attention and attention_grad, which every reader of those ops (their
// inference and reference kernels, lowerings, expand-attention) takes from here.
//
//   attention(q, k, v, [mask], [seed])    attention_grad(q, k, v, [mask], [seed], g)

#include <cstddef>

namespace kiln {

/// Operand positions of the optional mask and dropout seed (-1 when absent).
struct AttentionOperands {
  int mask = -1, seed = -1;
};

/// The roles among `operands` operands (q, k, v, the mask and the seed; not attention_grad's
/// cotangent) for an op with this dropout: the seed is last with dropout, the mask follows v.
AttentionOperands attentionOperands(size_t operands, double dropout);

} // namespace kiln
