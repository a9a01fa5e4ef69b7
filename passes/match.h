#pragma once
// Small pieces for matching patterns in the graph: what produced a value, splat constants,
// reductions over the last axis, use checks, and the inputs a value depends on. The fusion patterns
// are written with them.

#include "ir/builder.h"
#include "ir/graph.h"

#include <functional>
#include <initializer_list>
#include <optional>

namespace kiln::match {

/// The node producing v when it is an `op` node (with a single result), else nullptr.
Node *def(const Value *v, OpHandle op);
/// The value of v when it is a constant holding one value everywhere.
std::optional<double> splat(const Value *v);
/// The axis a reduction node reduces, when it reduces exactly one; normalized.
std::optional<int64_t> singleAxis(const Node &reduction);
/// Whether a node is the reduction `op` over the last axis of its operand with keepdims.
bool reducesLastAxisKept(const Node *n, OpHandle op);
/// Whether a and b hold one value: the same value, or values computed alike (the same op with
/// the same attributes and result types, over operands that hold one value, looked at up to
/// `depth` nodes deep). Every op is pure, so duplicates written twice compare equal.
bool same(const Value *a, const Value *b, int depth = 8);
/// Whether every use of v (operands and graph outputs) is by one of the given nodes.
bool onlyUsedBy(const Graph &g, const Value *v, std::initializer_list<const Node *> users);
/// Names another user of v that is not among the given nodes, for remarks ("a mul at f:3:7").
std::string otherUser(const Graph &g, const Value *v, std::initializer_list<const Node *> users);
/// The first graph input, in a walk up from v through every operand, that `want` accepts, or
/// nullptr when v depends on none.
const GraphInput *inputBehind(const Graph &g, const Value *v,
                              const std::function<bool(const GraphInput &)> &want);
/// Calls f(a, b) with the operands of a binary node in both orders; returns the first success.
template <typename F>
auto commuted(const Node &n, F f) -> decltype(f(n.operands[0], n.operands[1])) {
  if (auto r = f(n.operands[0], n.operands[1]))
    return r;
  return f(n.operands[1], n.operands[0]);
}

} // namespace kiln::match
