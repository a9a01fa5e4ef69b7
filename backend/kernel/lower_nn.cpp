// The fused ops softmax, softmax_grad and layer_norm as group kernels: one group per row, its
// workers sweep the row to find the statistics (group reductions), then write the result. On
// a GPU a group is a thread block; on the CPU it is one thread's loop over the row.

#include "backend/kernel/lowerings.h"

#include <limits>

namespace kiln::kernel {
namespace {

/// The rows of a row-wise op: `rows` groups of `size` elements, `inner` apart in memory.
struct Rows {
  int64_t rows = 1, size = 1, inner = 1;
};

Rows rowsAt(const Shape &s, int64_t axis) {
  Rows r;
  int64_t outer = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d)
    (d < axis ? outer : d == axis ? r.size : r.inner) *= s[d];
  r.rows = outer * r.inner;
  return r;
}

/// Builds one group kernel over rows: views buffers and gives the index of an element.
struct RowKernel {
  Kernel k;
  Rows rows;
  int group = 0;
  Block body;

  RowKernel(const Node &n, Rows r, const std::vector<int> &row_buffers) : k(kernelFor(n)), rows(r) {
    Shape view = r.inner == 1 ? Shape{r.rows, r.size} : Shape{r.rows / r.inner, r.size, r.inner};
    for (int b : row_buffers)
      setView(k, b, view);
    group = k.addVar("g", ScalarType::index);
  }

  /// The indices of element w of this group's row.
  std::vector<Expr> at(const Expr &w) const {
    Expr g = varRef(k, group);
    if (rows.inner == 1)
      return {g, w};
    return {div(g, intConst(rows.inner)), w, binary(BinaryOp::Rem, g, intConst(rows.inner))};
  }

  /// A worker loop over the row; `f` builds its body from the element index.
  template <typename F> void workers(F f) {
    int w = k.addVar("w", ScalarType::index);
    body.push_back(loop(w, LoopKind::Worker, rows.size, f(varRef(k, w))));
  }

  /// acc = init, updated by every worker with `update(acc, w)`, then combined across them.
  template <typename F> int reduce(ScalarType t, Expr init, BinaryOp op, F update) {
    int acc = k.addVar("acc", t, true);
    body.push_back(accumulator(acc, std::move(init)));
    workers([&](Expr w) { return Block{assign(acc, update(varRef(k, acc), w))}; });
    body.push_back(Stmt{GroupReduce{acc, op}});
    return acc;
  }

  Kernel finish() {
    k.body.push_back(loop(group, LoopKind::Group, rows.rows, std::move(body)));
    return std::move(k);
  }
};

Expr maxOf(Expr acc, Expr x) { return select(binary(BinaryOp::Gt, x, acc), x, acc); }

std::optional<Kernel> lowerSoftmax(const Node &n) {
  const TensorType &type = n.result()->type;
  RowKernel rk(n, rowsAt(type.shape, *normalizeAxis(n.getInt("axis"), type.rank())), {0, 1});
  ScalarType t = computeType(type.dtype);
  auto x = [&](const Expr &w) { return load(rk.k, 0, rk.at(w)); };
  int m = rk.reduce(t, constant(-std::numeric_limits<double>::infinity(), t), BinaryOp::Max,
                    [&](Expr acc, Expr w) { return maxOf(acc, x(w)); });
  Expr vm = varRef(rk.k, m);
  auto e = [&](const Expr &w) { return unary(UnaryOp::Exp, sub(x(w), vm)); };
  int s =
      rk.reduce(t, constant(0, t), BinaryOp::Add, [&](Expr acc, Expr w) { return add(acc, e(w)); });
  Expr vs = varRef(rk.k, s);
  rk.workers([&](Expr w) { return Block{store(1, rk.at(w), div(e(w), vs))}; });
  return rk.finish();
}

/// dx = y * (g - sum(g * y)) along the axis.
std::optional<Kernel> lowerSoftmaxGrad(const Node &n) {
  const TensorType &type = n.result()->type;
  RowKernel rk(n, rowsAt(type.shape, *normalizeAxis(n.getInt("axis"), type.rank())), {0, 1, 2});
  ScalarType t = computeType(type.dtype);
  auto y = [&](const Expr &w) { return load(rk.k, 0, rk.at(w)); };
  auto g = [&](const Expr &w) { return load(rk.k, 1, rk.at(w)); };
  int dot = rk.reduce(t, constant(0, t), BinaryOp::Add,
                      [&](Expr acc, Expr w) { return add(acc, mul(y(w), g(w))); });
  Expr vd = varRef(rk.k, dot);
  rk.workers([&](Expr w) { return Block{store(2, rk.at(w), mul(y(w), sub(g(w), vd)))}; });
  return rk.finish();
}

/// Mean, then variance as the mean of squared deviations (two passes, as the reference).
std::optional<Kernel> lowerLayerNorm(const Node &n) {
  const TensorType &type = n.result()->type;
  int64_t axis = *normalizeAxis(n.getInt("axis"), type.rank());
  int64_t size = 1;
  for (int64_t d = axis; d < type.rank(); ++d)
    size *= type.shape[d];
  Rows rows{size ? type.numElements() / size : 0, size, 1};
  int out = static_cast<int>(n.operands.size());
  RowKernel rk(n, rows, {0, out});
  for (int p = 1; p < out; ++p)
    setView(rk.k, p, {size});
  ScalarType t = computeType(type.dtype);
  auto c = [&](double v) { return constant(v, t); };
  auto x = [&](const Expr &w) { return load(rk.k, 0, rk.at(w)); };
  int sum = rk.reduce(t, c(0), BinaryOp::Add, [&](Expr acc, Expr w) { return add(acc, x(w)); });
  int mean = rk.k.addVar("mean", t);
  rk.body.push_back(let(mean, div(varRef(rk.k, sum), c(static_cast<double>(size)))));
  Expr vmean = varRef(rk.k, mean);
  int sq = rk.reduce(t, c(0), BinaryOp::Add, [&](Expr acc, Expr w) {
    Expr d = sub(x(w), vmean);
    return add(acc, mul(d, d));
  });
  int rstd = rk.k.addVar("rstd", t);
  Expr var = div(varRef(rk.k, sq), c(static_cast<double>(size)));
  rk.body.push_back(let(rstd, div(c(1), unary(UnaryOp::Sqrt, add(var, c(n.getFloat("eps")))))));
  Expr vr = varRef(rk.k, rstd);
  rk.workers([&](Expr w) {
    Expr v = mul(sub(x(w), vmean), vr);
    if (out > 1)
      v = mul(v, load(rk.k, 1, {w}));
    if (out > 2)
      v = add(v, load(rk.k, 2, {w}));
    return Block{store(out, rk.at(w), v)};
  });
  return rk.finish();
}

} // namespace

void addNNLowerings(LoweringTable &t) {
  addLowering(t, "softmax", lowerSoftmax);
  addLowering(t, "softmax_grad", lowerSoftmaxGrad);
  addLowering(t, "layer_norm", lowerLayerNorm);
}

} // namespace kiln::kernel
