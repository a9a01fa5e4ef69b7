// Collectives over the processes of a data-parallel group: all_reduce. The graph names the
// reduction; the runtime's communicator (runtime/collective.h) carries it out. In a single
// process, which is all the reference interpreter knows, the sum over the group is the operand.

#include "ir/ops/ops.h"

namespace kiln {
namespace {

std::vector<TensorType> inferAllReduce(const InferContext &ctx) {
  const TensorType &x = ctx.operands[0];
  if (x.dtype == DType::boolean)
    ctx.error("operand must be numeric, found {}", x.str());
  return {x};
}

std::vector<Literal> allReduceKernel(const Node &, std::span<const Literal *const> in) {
  return {*in[0]};
}

/// y = sum_r x_r is the same on every rank r, and every rank's own objective L_r reads it, so
/// the objective the group minimises, L = sum_s L_s, has dL/dx_r = sum_s dL_s/dy: the
/// all_reduce of the cotangents. (Identity would be right only if one rank alone held the
/// loss.) In one process both are the cotangent itself.
std::vector<Value *> allReduceVjp(Builder &b, const Node &, std::span<Value *const> g) {
  return {b.create(op::AllReduce, {g[0]})};
}

} // namespace

void addCollectiveOps(std::vector<OpDef> &ops) {
  ops.push_back(OpDef{.name = op::AllReduce.name,
                      .summary = "sum over the processes of the data-parallel group",
                      .min_operands = 1,
                      .max_operands = 1,
                      .infer = inferAllReduce,
                      .reference = allReduceKernel,
                      .differentiable = Differentiable::Yes,
                      .vjp = allReduceVjp,
                      .samples = {{.inputs = {"%a: f32[2,3]"}, .node = "all_reduce(%a) : f32[2,3]"},
                                  {.inputs = {"%a: f64[7]"}, .node = "all_reduce(%a) : f64[7]"}}});
}

} // namespace kiln
