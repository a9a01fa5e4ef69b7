#pragma once
// Shared pieces of the lowering files: the table each family fills in and helpers that build
// loop nests and broadcast index maps.

#include "backend/kernel/lower.h"

#include <functional>
#include <span>
#include <unordered_map>

namespace kiln::kernel {

/// Lowers one node; nullopt when this use of the op has no lowering.
using LowerFn = std::optional<Kernel> (*)(const Node &);
/// Lowerings by op handle.
using LoweringTable = std::unordered_map<const OpDef *, LowerFn>;

void addElementwiseLowerings(LoweringTable &table);
void addReductionLowerings(LoweringTable &table);
void addShapeLowerings(LoweringTable &table);
void addCreationLowerings(LoweringTable &table);
void addLinalgLowerings(LoweringTable &table);
void addNNLowerings(LoweringTable &table);
void addIndexingLowerings(LoweringTable &table);
void addAttentionLowerings(LoweringTable &table);

// ---- scalar forms, shared by the one-node kernels and the fusion groups' kernels ---------------

/// An elementwise node's value at one element from its operands' values there, in the compute
/// type of its result; nullopt for an op without a scalar form.
std::optional<Expr> elementwiseValue(const Node &node, std::span<const Expr> operands);
/// iota's value at an element whose index along the iota's axis is `axis_index`.
Expr iotaValue(const Node &node, const Expr &axis_index);
/// Word `i` (0 the low, 1 the high) of the Philox key that kernel buffer `key` (i32[2]) holds.
Expr keyWord(const Kernel &k, int key, int i);
/// random_uniform's value at the element of row-major index `flat`, keyed by buffer `key`.
Expr randomValue(const Node &node, const Kernel &k, int key, const Expr &flat);

/// The larger of an accumulator and x (the accumulator when x is NaN or equal), for the row
/// maxima of softmax-like kernels.
inline Expr maxOf(Expr acc, Expr x) { return select(binary(BinaryOp::Gt, x, acc), x, acc); }

/// The accumulator of a reduce_sum, reduce_max or reduce_mean: its type, its initial value, how
/// an element updates it and the result it gives (i32 sums accumulate in i64).
struct ReductionScalar {
  enum Kind { Sum, Max, Mean } kind = Sum;
  ScalarType acc_type = ScalarType::f32;
  int64_t count = 1; ///< elements per output element, for the mean
  Expr init;

  /// The accumulator's next value after element `elem`.
  Expr update(const Expr &acc, const Expr &elem) const;
  /// The node's result from the final accumulator, in its result's compute type.
  Expr result(const Expr &acc, DType dtype) const;
};
/// The accumulator of a reduction node; nullopt for other ops.
std::optional<ReductionScalar> reductionScalar(const Node &node);

/// Adds `fn` for the op of this mnemonic (which must exist).
void addLowering(LoweringTable &table, const OpDef &op, LowerFn fn);
/// Adds `fn` for the op of this handle.
void addLowering(LoweringTable &table, OpHandle op, LowerFn fn);

/// A kernel for a node with %in<i> and %out<i> buffers declared in the node's own shapes.
Kernel kernelFor(const Node &node);

/// Index variables for a loop nest over `extents`; wrap() turns a body into the nest.
struct LoopNest {
  std::vector<int> vars;
  std::vector<int64_t> extents;
  std::vector<LoopKind> kinds;

  /// A nest whose outermost loop is `first` and whose others are `rest`.
  static LoopNest make(Kernel &k, const std::vector<int64_t> &extents,
                       LoopKind first = LoopKind::Parallel, LoopKind rest = LoopKind::Serial);
  /// The index expressions of the loops, outermost first.
  std::vector<Expr> indices(const Kernel &k) const;
  /// The body wrapped in the loops (the body itself when there are none).
  Block wrap(Block body) const;
};

/// Gives a buffer another view of its elements (same count), with row-major strides.
void setView(Kernel &k, int buffer, Shape shape);

/// Row-major strides applied to indices: the flat offset they address.
Expr flatIndex(const std::vector<Expr> &idx, const Shape &shape);
/// The multi-index of a flat index expression in a shape (div and rem).
std::vector<Expr> unflattenIndex(const Expr &flat, const Shape &shape);

/// Broadcast shapes prepared for loops: size-1 output axes dropped and neighbouring axes merged
/// where every operand either spans both or broadcasts both.
struct CollapsedBroadcast {
  Shape out;                   ///< the loop extents
  std::vector<Shape> operands; ///< each operand's view, same rank as out, 1 where it broadcasts
};

/// Collapses an elementwise iteration space over `out` read by operands of `shapes`.
CollapsedBroadcast collapseBroadcast(const Shape &out, const std::vector<Shape> &shapes);
/// The indices reading an operand of view `shape` inside loops with indices `idx`.
std::vector<Expr> broadcastIndices(const std::vector<Expr> &idx, const Shape &shape);

} // namespace kiln::kernel
