#pragma once
// Handles of the op table: code refers to ops as op::Add or op::ReduceSum, never by a string,
// so a misspelt op is a compile error rather than a pattern that silently never matches. The
// table test checks that the handles and the table name the same ops.

#include "ir/op.h"

#include <span>

namespace kiln {

/// A stable reference to one op of the table, by its mnemonic.
struct OpHandle {
  std::string_view name;
  /// The op's table entry.
  const OpDef &def() const;
  bool operator==(const OpHandle &) const = default;
};

// clang-format off
/// Every op of the table: X(Handle, "mnemonic"), in mnemonic order.
#define KILN_OP_HANDLES(X) \
  X(Abs, "abs") \
  X(Add, "add") \
  X(AllReduce, "all_reduce") \
  X(And, "and") \
  X(Attention, "attention") \
  X(AttentionGrad, "attention_grad") \
  X(BroadcastTo, "broadcast_to") \
  X(Cast, "cast") \
  X(Concat, "concat") \
  X(Constant, "constant") \
  X(Div, "div") \
  X(DynamicSlice, "dynamic_slice") \
  X(DynamicUpdateSlice, "dynamic_update_slice") \
  X(Eq, "eq") \
  X(Exp, "exp") \
  X(Gather, "gather") \
  X(Ge, "ge") \
  X(Gelu, "gelu") \
  X(GeluGrad, "gelu_grad") \
  X(Gt, "gt") \
  X(Iota, "iota") \
  X(LayerNorm, "layer_norm") \
  X(LayerNormGrad, "layer_norm_grad") \
  X(Le, "le") \
  X(Log, "log") \
  X(Lt, "lt") \
  X(Matmul, "matmul") \
  X(Max, "max") \
  X(Min, "min") \
  X(Mul, "mul") \
  X(Ne, "ne") \
  X(Neg, "neg") \
  X(Not, "not") \
  X(Or, "or") \
  X(Pad, "pad") \
  X(Pow, "pow") \
  X(RandomUniform, "random_uniform") \
  X(ReduceMax, "reduce_max") \
  X(ReduceMean, "reduce_mean") \
  X(ReduceSum, "reduce_sum") \
  X(Relu, "relu") \
  X(Reshape, "reshape") \
  X(Rsqrt, "rsqrt") \
  X(ScatterAdd, "scatter_add") \
  X(Select, "select") \
  X(Sigmoid, "sigmoid") \
  X(Slice, "slice") \
  X(Softmax, "softmax") \
  X(SoftmaxCrossEntropy, "softmax_cross_entropy") \
  X(SoftmaxCrossEntropyGrad, "softmax_cross_entropy_grad") \
  X(SoftmaxGrad, "softmax_grad") \
  X(Sqrt, "sqrt") \
  X(Sub, "sub") \
  X(Tanh, "tanh") \
  X(Transpose, "transpose")
// clang-format on

/// The handles: op::Add, op::ReduceSum, ...
namespace op {
#define KILN_DECLARE_OP_HANDLE(handle, mnemonic) inline constexpr OpHandle handle{mnemonic};
KILN_OP_HANDLES(KILN_DECLARE_OP_HANDLE)
#undef KILN_DECLARE_OP_HANDLE
} // namespace op

/// Every handle, for the table test.
std::span<const OpHandle> allOpHandles();

} // namespace kiln
