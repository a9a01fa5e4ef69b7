// gather and scatter_add with batch_dims. Both see data as [batch, outer, axis, inner], the
// indices as [batch, positions] and the gathered elements as [batch, outer, positions, inner].
// Every index is checked where it is read: a bad one fires the kernel's trap with the
// reference kernel's message, and the kernel reads through a clamped index so that it stays in
// bounds. The smallest failing position is the reference's first failure, since the reference
// walks the gathered elements in order.
//
// dynamic_slice and dynamic_update_slice read their corner once, clamped as the reference
// clamps it, then copy a box. dynamic_update_slice first copies the operand whole, then writes
// the box; when its result lives in the operand's buffer (a KV cache updated in place), the
// kernel of lowerOverOperand writes the box alone.

#include "backend/kernel/lowerings.h"

#include <fmt/format.h>

namespace kiln::kernel {
namespace {

/// A gather's index space: data [batch, outer, axis, inner], indices [batch, positions].
struct Gathered {
  int64_t batch = 1, outer = 1, axis = 1, inner = 1, positions = 1;
  int64_t axis_number = 0;
  bool empty = false; ///< no element is gathered, so no index is read

  Shape data() const { return {batch, outer, axis, inner}; }
  Shape indices() const { return {batch, positions}; }
  Shape gathered() const { return {batch, outer, positions, inner}; }
};

Gathered gatheredOf(const Node &n, const Shape &data, const Shape &indices) {
  Gathered g;
  int64_t b = n.getInt("batch_dims");
  g.axis_number = *normalizeAxis(n.getInt("axis"), static_cast<int64_t>(data.size()));
  for (int64_t d = 0; d < static_cast<int64_t>(data.size()); ++d)
    (d < b                ? g.batch
     : d < g.axis_number  ? g.outer
     : d == g.axis_number ? g.axis
                          : g.inner) *= data[d];
  for (size_t d = b; d < indices.size(); ++d)
    g.positions *= indices[d];
  g.empty = g.batch * g.outer * g.positions * g.inner == 0;
  return g;
}

/// The multi-index of a flat index in `shape`, with 0 for size-1 axes and no remainder for the
/// outermost axis that is not 1.
std::vector<Expr> split(const Expr &flat, const Shape &shape) {
  std::vector<int64_t> strides = stridesOf(shape);
  std::vector<Expr> idx;
  bool outermost = true;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) {
      idx.push_back(intConst(0));
      continue;
    }
    Expr q = strides[d] == 1 ? flat : div(flat, intConst(strides[d]));
    idx.push_back(outermost ? q : binary(BinaryOp::Rem, q, intConst(shape[d])));
    outermost = false;
  }
  return idx;
}

/// The checked index at (bt, j): declares the trap, checks, and returns the clamped index.
Expr checkedIndex(Kernel &k, Block &body, const Node &n, const Gathered &g, int indices,
                  const Expr &bt, const Expr &j) {
  int trap = k.addTrap(fmt::format("{}: index {{}} is out of range [0, {}) along axis {}", n.name(),
                                   g.axis, g.axis_number),
                       indices);
  int raw = k.addVar("index", ScalarType::index);
  body.push_back(let(raw, cast(load(k, indices, {bt, j}), ScalarType::index)));
  Expr v = varRef(k, raw);
  int ok = k.addVar("ok", ScalarType::boolean);
  body.push_back(let(ok, binary(BinaryOp::And, binary(BinaryOp::Ge, v, intConst(0)),
                                binary(BinaryOp::Lt, v, intConst(g.axis)))));
  if (!g.empty)
    body.push_back(
        check(trap, varRef(k, ok), g.batch == 1 ? j : add(mul(bt, intConst(g.positions)), j)));
  int safe = k.addVar("index", ScalarType::index);
  body.push_back(let(safe, select(varRef(k, ok), v, intConst(0))));
  return varRef(k, safe);
}

std::optional<Kernel> lowerGather(const Node &n) {
  Gathered g = gatheredOf(n, n.operands[0]->type.shape, n.operands[1]->type.shape);
  Kernel k = kernelFor(n);
  setView(k, 0, g.data());
  setView(k, 1, g.indices());
  setView(k, 2, g.gathered());
  int p = k.addVar("i", ScalarType::index);
  std::vector<Expr> at = split(varRef(k, p), {g.batch, g.outer, g.positions});
  Block body;
  Expr index = checkedIndex(k, body, n, g, 1, at[0], at[2]);
  int i = k.addVar("i", ScalarType::index);
  Expr vi = varRef(k, i);
  ScalarType t = computeType(n.result()->type.dtype);
  // With an empty axis every index fails; there is nothing to read.
  Expr value = g.axis == 0
                   ? (isFloat(t) || t == ScalarType::boolean ? constant(0, t) : intConst(0, t))
                   : load(k, 0, {at[0], at[1], index, vi});
  body.push_back(loop(i, LoopKind::Serial, g.inner, {store(2, {at[0], at[1], at[2], vi}, value)}));
  k.body.push_back(loop(p, LoopKind::Parallel, g.batch * g.outer * g.positions, std::move(body)));
  return k;
}

/// Each (batch, outer) slab of the result is one iteration, and within it each inner column:
/// a column copies the base and adds the updates in the reference's order, so repeated indices
/// never race. Columns touch disjoint elements, so the GPU code generators spread them over
/// threads (flatten_parallel.h): one thread walking a whole slab would run axis x inner
/// iterations, beyond what some drivers let one invocation run (lavapipe breaks out of loops
/// once one invocation has run 65535 iterations of them).
std::optional<Kernel> lowerScatterAdd(const Node &n) {
  DType dt = n.result()->type.dtype;
  // Integer sums saturate once in the reference, and bf16 ones round once: those fall back.
  if (dt != DType::f32 && dt != DType::f64)
    return std::nullopt;
  Gathered g = gatheredOf(n, n.operands[0]->type.shape, n.operands[1]->type.shape);
  Kernel k = kernelFor(n);
  setView(k, 0, g.data());
  setView(k, 1, g.indices());
  setView(k, 2, g.gathered());
  setView(k, 3, g.data());
  int q = k.addVar("i", ScalarType::index);
  std::vector<Expr> at = split(varRef(k, q), {g.batch, g.outer});
  int c = k.addVar("i", ScalarType::index), a = k.addVar("i", ScalarType::index);
  Expr vc = varRef(k, c);
  std::vector<Expr> base = {at[0], at[1], varRef(k, a), vc};
  Block column;
  column.push_back(loop(a, LoopKind::Serial, g.axis, {store(3, base, load(k, 0, base))}));
  int j = k.addVar("j", ScalarType::index);
  Expr vj = varRef(k, j);
  Block update;
  Expr index = checkedIndex(k, update, n, g, 1, at[0], vj);
  std::vector<Expr> dst = {at[0], at[1], index, vc};
  if (g.axis > 0)
    update.push_back(store(3, dst, add(load(k, 3, dst), load(k, 2, {at[0], at[1], vj, vc}))));
  column.push_back(loop(j, LoopKind::Serial, g.positions, std::move(update)));
  Block body;
  body.push_back(loop(c, LoopKind::Serial, g.inner, std::move(column)));
  k.body.push_back(loop(q, LoopKind::Parallel, g.batch * g.outer, std::move(body)));
  return k;
}

/// Lets for the clamped corner of a box of shape `box` in `shape`, read from buffers `first`...
std::vector<Expr> clampedCorner(Kernel &k, const Shape &shape, const Shape &box, int first) {
  std::vector<Expr> corner;
  for (size_t d = 0; d < shape.size(); ++d) {
    int c = k.addVar("corner", ScalarType::index);
    Expr raw = cast(load(k, first + static_cast<int>(d), {}), ScalarType::index);
    Expr hi = intConst(shape[d] - box[d]);
    k.body.push_back(
        let(c, binary(BinaryOp::Min, binary(BinaryOp::Max, raw, intConst(0)), std::move(hi))));
    corner.push_back(varRef(k, c));
  }
  return corner;
}

/// Indices `idx` moved to the corner.
std::vector<Expr> shifted(const std::vector<Expr> &corner, const std::vector<Expr> &idx) {
  std::vector<Expr> out;
  for (size_t d = 0; d < idx.size(); ++d)
    out.push_back(add(corner[d], idx[d]));
  return out;
}

std::optional<Kernel> lowerDynamicSlice(const Node &n) {
  const Shape &shape = n.operands[0]->type.shape, &box = n.result()->type.shape;
  if (numElements(box) == 0 || box.empty())
    return std::nullopt;
  Kernel k = kernelFor(n);
  std::vector<Expr> corner = clampedCorner(k, shape, box, 1);
  LoopNest nest = LoopNest::make(k, box);
  std::vector<Expr> idx = nest.indices(k);
  int out = static_cast<int>(n.operands.size());
  for (Stmt &s : nest.wrap({store(out, idx, load(k, 0, shifted(corner, idx)))}))
    k.body.push_back(std::move(s));
  return k;
}

/// dynamic_update_slice's kernel: the operand copied whole unless `over_operand` (the result
/// already holds it), then the box written.
std::optional<Kernel> dynamicUpdateSliceKernel(const Node &n, bool over_operand) {
  const Shape &shape = n.operands[0]->type.shape, &box = n.operands[1]->type.shape;
  if (numElements(box) == 0 || shape.empty())
    return std::nullopt;
  Kernel k = kernelFor(n);
  int out = static_cast<int>(n.operands.size());
  int64_t count = numElements(shape);
  setView(k, 0, {count});
  setView(k, out, {count});
  std::vector<Expr> corner = clampedCorner(k, shape, box, 2);
  if (!over_operand) {
    LoopNest copy = LoopNest::make(k, {count});
    Expr i = copy.indices(k)[0];
    for (Stmt &s : copy.wrap({store(out, {i}, load(k, 0, {i}))}))
      k.body.push_back(std::move(s));
  }
  // The copy's view of the result is flat; the box is written through its own loops.
  LoopNest write = LoopNest::make(k, box);
  std::vector<Expr> idx = write.indices(k);
  Expr at = flatIndex(shifted(corner, idx), shape);
  for (Stmt &s : write.wrap({store(out, {at}, load(k, 1, idx))}))
    k.body.push_back(std::move(s));
  return k;
}

std::optional<Kernel> lowerDynamicUpdateSlice(const Node &n) {
  return dynamicUpdateSliceKernel(n, false);
}

} // namespace

std::optional<Kernel> lowerOverOperand(const Node &node) {
  if (!node.is(op::DynamicUpdateSlice))
    return std::nullopt;
  std::optional<Kernel> k = dynamicUpdateSliceKernel(node, true);
  if (k) {
    k->name = fmt::format("{}_in_place", node.name());
    assertValid(*k);
  }
  return k;
}

void addIndexingLowerings(LoweringTable &t) {
  addLowering(t, op::Gather, lowerGather);
  addLowering(t, op::ScatterAdd, lowerScatterAdd);
  addLowering(t, op::DynamicSlice, lowerDynamicSlice);
  addLowering(t, op::DynamicUpdateSlice, lowerDynamicUpdateSlice);
}

} // namespace kiln::kernel
