// Batched matmul with numpy-broadcast batch axes and either operand transposed. For f32 and
// f64 the loop order is i, p, j: each row of the result accumulates a[i, p] * b[p, j] over p
// with a contiguous, vectorisable inner loop. With b transposed, or for dtypes that must not
// accumulate in their storage (bf16, integers), each element is a dot product with an
// accumulator.

#include "backend/kernel/lowerings.h"

namespace kiln::kernel {
namespace {

std::optional<Kernel> lowerMatmul(const Node &n) {
  const Shape &a = n.operands[0]->type.shape, &b = n.operands[1]->type.shape;
  const Shape &out = n.result()->type.shape;
  bool ta = n.getBool("transpose_a"), tb = n.getBool("transpose_b");
  size_t ra = a.size(), ro = out.size();
  int64_t m = out[ro - 2], nn = out[ro - 1], k = ta ? a[ra - 2] : a[ra - 1];
  Shape batch(out.begin(), out.end() - 2);
  CollapsedBroadcast cb =
      collapseBroadcast(batch, {Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2)});
  auto withTail = [](Shape s, int64_t x, int64_t y) {
    s.push_back(x);
    s.push_back(y);
    return s;
  };
  Kernel kern = kernelFor(n);
  kern.noalias = true; // the memory plan never writes a matmul over its operands
  setView(kern, 0, withTail(cb.operands[0], ta ? k : m, ta ? m : k));
  setView(kern, 1, withTail(cb.operands[1], tb ? nn : k, tb ? k : nn));
  setView(kern, 2, withTail(cb.out, m, nn));

  Shape outer = cb.out;
  outer.push_back(m);
  LoopNest nest = LoopNest::make(kern, outer);
  std::vector<Expr> idx = nest.indices(kern);
  Expr i = idx.back();
  std::vector<Expr> bidx(idx.begin(), idx.end() - 1);
  auto at = [](std::vector<Expr> prefix, Expr x, Expr y) {
    prefix.push_back(std::move(x));
    prefix.push_back(std::move(y));
    return prefix;
  };
  std::vector<Expr> ba = broadcastIndices(bidx, cb.operands[0]);
  std::vector<Expr> bb = broadcastIndices(bidx, cb.operands[1]);
  auto aAt = [&](Expr p) { return load(kern, 0, ta ? at(ba, p, i) : at(ba, i, p)); };
  auto bAt = [&](Expr p, Expr j) { return load(kern, 1, tb ? at(bb, j, p) : at(bb, p, j)); };

  DType dt = n.result()->type.dtype;
  ScalarType t = computeType(dt);
  Expr zero = isFloat(t) ? constant(0, t) : intConst(0, t);
  Block row;
  if (!tb && (dt == DType::f32 || dt == DType::f64)) {
    int j0 = kern.addVar("j", ScalarType::index);
    row.push_back(loop(j0, LoopKind::Serial, nn, {store(2, at(bidx, i, varRef(kern, j0)), zero)}));
    int p = kern.addVar("p", ScalarType::index), j = kern.addVar("j", ScalarType::index);
    int av = kern.addVar("a", t);
    Expr vj = varRef(kern, j);
    std::vector<Expr> o = at(bidx, i, vj);
    Block inner;
    inner.push_back(let(av, aAt(varRef(kern, p))));
    inner.push_back(loop(
        j, LoopKind::Serial, nn,
        {store(2, o, add(load(kern, 2, o), mul(varRef(kern, av), bAt(varRef(kern, p), vj))))}));
    row.push_back(loop(p, LoopKind::Serial, k, std::move(inner)));
  } else {
    int j = kern.addVar("j", ScalarType::index), p = kern.addVar("p", ScalarType::index);
    int acc = kern.addVar("acc", t, true);
    Expr vj = varRef(kern, j), vp = varRef(kern, p);
    Block cell;
    cell.push_back(accumulator(acc, zero));
    cell.push_back(loop(p, LoopKind::Reduction, k,
                        {assign(acc, add(varRef(kern, acc), mul(aAt(vp), bAt(vp, vj))))}));
    cell.push_back(store(2, at(bidx, i, vj), varRef(kern, acc)));
    row.push_back(loop(j, LoopKind::Serial, nn, std::move(cell)));
  }
  kern.body = nest.wrap(std::move(row));
  return kern;
}

} // namespace

void addLinalgLowerings(LoweringTable &t) { addLowering(t, op::Matmul, lowerMatmul); }

} // namespace kiln::kernel
