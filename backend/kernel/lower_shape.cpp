// Ops that move elements: reshape, transpose, broadcast_to, slice, concat and pad, each a loop
// nest over the result with an index map into the operand.

#include "backend/kernel/lowerings.h"

#include <algorithm>

namespace kiln::kernel {
namespace {

/// An optional per-axis attribute: empty means `fill` on every axis.
IntList perAxis(IntList values, size_t rank, int64_t fill) {
  if (values.empty())
    values.assign(rank, fill);
  return values;
}

/// A zero of a compute type.
Expr zeroOf(ScalarType t) { return isInteger(t) ? intConst(0, t) : constant(0, t); }

/// The same elements in a new shape: a flat copy.
std::optional<Kernel> lowerReshape(const Node &n) {
  Kernel k = kernelFor(n);
  int64_t count = n.result()->type.numElements();
  setView(k, 0, {count});
  setView(k, 1, {count});
  LoopNest nest = LoopNest::make(k, {count});
  Expr i = nest.indices(k)[0];
  k.body = nest.wrap({store(1, {i}, load(k, 0, {i}))});
  return k;
}

std::optional<Kernel> lowerTranspose(const Node &n) {
  const Shape &in = n.operands[0]->type.shape;
  const IntList &perm = n.getInts("perm");
  // Result axes that move together in the operand merge into one loop.
  std::vector<std::vector<int64_t>> groups; // operand axes of each merged result axis
  for (int64_t p : perm) {
    if (in[p] == 1)
      continue;
    if (!groups.empty() && groups.back().back() + 1 == p)
      groups.back().push_back(p);
    else
      groups.push_back({p});
  }
  Shape out_view;
  for (const auto &g : groups) {
    int64_t e = 1;
    for (int64_t a : g)
      e *= in[a];
    out_view.push_back(e);
  }
  // The operand's view lists the groups in operand order.
  std::vector<size_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return groups[a][0] < groups[b][0]; });
  Shape in_view;
  for (size_t g : order)
    in_view.push_back(out_view[g]);
  Kernel k = kernelFor(n);
  setView(k, 0, in_view);
  setView(k, 1, out_view);
  LoopNest nest = LoopNest::make(k, out_view);
  std::vector<Expr> idx = nest.indices(k), src;
  for (size_t g : order)
    src.push_back(idx[g]);
  k.body = nest.wrap({store(1, idx, load(k, 0, src))});
  return k;
}

std::optional<Kernel> lowerBroadcastTo(const Node &n) {
  Kernel k = kernelFor(n);
  CollapsedBroadcast cb = collapseBroadcast(n.result()->type.shape, {n.operands[0]->type.shape});
  setView(k, 0, cb.operands[0]);
  setView(k, 1, cb.out);
  LoopNest nest = LoopNest::make(k, cb.out);
  std::vector<Expr> idx = nest.indices(k);
  k.body = nest.wrap({store(1, idx, load(k, 0, broadcastIndices(idx, cb.operands[0])))});
  return k;
}

std::optional<Kernel> lowerSlice(const Node &n) {
  Kernel k = kernelFor(n);
  const Shape &out = n.result()->type.shape;
  const IntList &start = n.getInts("start");
  IntList stride = perAxis(n.getInts("stride"), out.size(), 1);
  LoopNest nest = LoopNest::make(k, out);
  std::vector<Expr> idx = nest.indices(k), src;
  for (size_t d = 0; d < out.size(); ++d) {
    Expr s = stride[d] == 1 ? idx[d] : mul(idx[d], intConst(stride[d]));
    src.push_back(start[d] == 0 ? s : add(s, intConst(start[d])));
  }
  k.body = nest.wrap({store(1, idx, load(k, 0, src))});
  return k;
}

/// Each operand is a [outer, chunk] block of rows; the result's rows hold the chunks in turn.
std::optional<Kernel> lowerConcat(const Node &n) {
  Kernel k = kernelFor(n);
  const Shape &out = n.result()->type.shape;
  int64_t axis = *normalizeAxis(n.getInt("axis"), static_cast<int64_t>(out.size()));
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= out[d];
  int64_t total = outer ? n.result()->type.numElements() / outer : 0;
  int out_buf = static_cast<int>(n.operands.size());
  setView(k, out_buf, {outer, total});
  int o = k.addVar("i", ScalarType::index);
  Block row;
  int64_t offset = 0;
  for (size_t i = 0; i < n.operands.size(); ++i) {
    int64_t chunk = outer ? n.operands[i]->type.numElements() / outer : 0;
    setView(k, static_cast<int>(i), {outer, chunk});
    int j = k.addVar("i", ScalarType::index);
    Expr vo = varRef(k, o), vj = varRef(k, j);
    Expr dst = offset ? add(vj, intConst(offset)) : vj;
    row.push_back(loop(j, LoopKind::Serial, chunk,
                       {store(out_buf, {vo, dst}, load(k, static_cast<int>(i), {vo, vj}))}));
    offset += chunk;
  }
  k.body.push_back(loop(o, LoopKind::Parallel, outer, std::move(row)));
  return k;
}

/// Each result element reads the operand where it lands on one, else zero; the index is
/// clamped into range so that the load is always safe.
std::optional<Kernel> lowerPad(const Node &n) {
  Kernel k = kernelFor(n);
  const Shape &in = n.operands[0]->type.shape, &out = n.result()->type.shape;
  const IntList &low = n.getInts("low");
  IntList interior = perAxis(n.getInts("interior"), in.size(), 0);
  ScalarType t = computeType(n.result()->type.dtype);
  LoopNest nest = LoopNest::make(k, out);
  std::vector<Expr> idx = nest.indices(k);
  if (numElements(in) == 0) {
    k.body = nest.wrap({store(1, idx, zeroOf(t))});
    return k;
  }
  Expr valid = constant(1, ScalarType::boolean);
  std::vector<Expr> src;
  for (size_t d = 0; d < in.size(); ++d) {
    Expr q = low[d] ? sub(idx[d], intConst(low[d])) : idx[d];
    int64_t step = interior[d] + 1;
    Expr pos = step == 1 ? q : div(q, intConst(step));
    Expr ok = binary(BinaryOp::And, binary(BinaryOp::Ge, q, intConst(0)),
                     binary(BinaryOp::Lt, pos, intConst(in[d])));
    if (step != 1)
      ok = binary(BinaryOp::And, ok,
                  binary(BinaryOp::Eq, binary(BinaryOp::Rem, q, intConst(step)), intConst(0)));
    valid = d == 0 ? ok : binary(BinaryOp::And, valid, ok);
    src.push_back(
        binary(BinaryOp::Min, binary(BinaryOp::Max, pos, intConst(0)), intConst(in[d] - 1)));
  }
  k.body = nest.wrap({store(1, idx, select(valid, load(k, 0, src), zeroOf(t)))});
  return k;
}

} // namespace

void addShapeLowerings(LoweringTable &t) {
  addLowering(t, op::Reshape, lowerReshape);
  addLowering(t, op::Transpose, lowerTranspose);
  addLowering(t, op::BroadcastTo, lowerBroadcastTo);
  addLowering(t, op::Slice, lowerSlice);
  addLowering(t, op::Concat, lowerConcat);
  addLowering(t, op::Pad, lowerPad);
}

} // namespace kiln::kernel
