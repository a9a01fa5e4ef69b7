// The fused ops softmax, softmax_grad, layer_norm and the loss's backward op as group kernels:
// one group per row, its workers sweep the row to find the statistics (group reductions), then
// write the result. On a GPU a group is a thread block; on the CPU it is one thread's loop over
// the row. The results that sum over rows (the loss, layer_norm_grad's dweight and dbias) are
// one group whose workers take the rows: no two groups write one element.

#include "backend/kernel/lowerings.h"

#include <fmt/format.h>

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

// ---- layer_norm_grad -------------------------------------------------------------------------

/// One group: its workers take the rows (statistics into local buffers, then dx), then the
/// columns (dweight and dbias sum over the rows).
std::optional<Kernel> lowerLayerNormGrad(const Node &n) {
  const TensorType &type = n.operands[0]->type;
  int64_t axis = *normalizeAxis(n.getInt("axis"), type.rank());
  int64_t m = 1;
  for (int64_t d = axis; d < type.rank(); ++d)
    m *= type.shape[d];
  int64_t rows = m ? type.numElements() / m : 0;
  bool weighted = n.operands.size() == 3;
  int gin = weighted ? 2 : 1, dx = gin + 1, dw = gin + 2, db = gin + 3;
  Kernel k = kernelFor(n);
  for (int b : {0, gin, dx})
    setView(k, b, {rows, m});
  for (int b : {dw, db})
    setView(k, b, {m});
  if (weighted)
    setView(k, 1, {m});
  ScalarType t = computeType(type.dtype);
  DType local_type = t == ScalarType::f64 ? DType::f64 : DType::f32;
  int means = k.addBuffer("mean", local_type, {rows}, Role::Local);
  int rstds = k.addBuffer("rstd", local_type, {rows}, Role::Local);
  auto c = [&](double v) { return constant(v, t); };
  Expr count = c(static_cast<double>(m));
  auto sum = [&](Block &body, Expr init_acc, int64_t extent, auto term) {
    int acc = k.addVar("acc", t, true);
    int r = k.addVar("r", ScalarType::index);
    body.push_back(accumulator(acc, std::move(init_acc)));
    body.push_back(loop(r, LoopKind::Reduction, extent,
                        {assign(acc, add(varRef(k, acc), term(varRef(k, r))))}));
    return varRef(k, acc);
  };

  int g = k.addVar("g", ScalarType::index), w = k.addVar("w", ScalarType::index);
  Expr row = varRef(k, w);
  auto x = [&](const Expr &j) { return load(k, 0, {row, j}); };
  auto grad = [&](const Expr &j) { return load(k, gin, {row, j}); };
  Block per_row;
  Expr total = sum(per_row, c(0), m, x);
  int mean = k.addVar("mean", t), rstd = k.addVar("rstd", t);
  per_row.push_back(let(mean, div(total, count)));
  Expr vmean = varRef(k, mean);
  Expr sq = sum(per_row, c(0), m, [&](const Expr &j) {
    Expr d = sub(x(j), vmean);
    return mul(d, d);
  });
  per_row.push_back(
      let(rstd, div(c(1), unary(UnaryOp::Sqrt, add(div(sq, count), c(n.getFloat("eps")))))));
  Expr vrstd = varRef(k, rstd);
  per_row.push_back(store(means, {row}, vmean));
  per_row.push_back(store(rstds, {row}, vrstd));
  auto xhat = [&](const Expr &j) { return mul(sub(x(j), vmean), vrstd); };
  auto dyhat = [&](const Expr &j) { return weighted ? mul(grad(j), load(k, 1, {j})) : grad(j); };
  Expr mean_dy = sum(per_row, c(0), m, [&](const Expr &j) { return div(dyhat(j), count); });
  Expr mean_dy_xhat =
      sum(per_row, c(0), m, [&](const Expr &j) { return div(mul(dyhat(j), xhat(j)), count); });
  int mdy = k.addVar("mean_dy", t), mdyx = k.addVar("mean_dy_xhat", t);
  per_row.push_back(let(mdy, mean_dy));
  per_row.push_back(let(mdyx, mean_dy_xhat));
  int j = k.addVar("j", ScalarType::index);
  Expr vj = varRef(k, j);
  Expr dx_value = mul(vrstd, sub(sub(dyhat(vj), varRef(k, mdy)), mul(xhat(vj), varRef(k, mdyx))));
  per_row.push_back(loop(j, LoopKind::Serial, m, {store(dx, {row, vj}, dx_value)}));

  int col = k.addVar("w", ScalarType::index);
  Expr vc = varRef(k, col);
  Block per_col;
  Expr dw_value = sum(per_col, c(0), rows, [&](const Expr &r) {
    Expr xh = mul(sub(load(k, 0, {r, vc}), load(k, means, {r})), load(k, rstds, {r}));
    return mul(load(k, gin, {r, vc}), xh);
  });
  Expr db_value = sum(per_col, c(0), rows, [&](const Expr &r) { return load(k, gin, {r, vc}); });
  per_col.push_back(store(dw, {vc}, dw_value));
  per_col.push_back(store(db, {vc}, db_value));

  Block group;
  group.push_back(loop(w, LoopKind::Worker, rows, std::move(per_row)));
  group.push_back(Stmt{Barrier{}});
  group.push_back(loop(col, LoopKind::Worker, m, std::move(per_col)));
  k.body.push_back(loop(g, LoopKind::Group, 1, std::move(group)));
  return k;
}

// ---- softmax_cross_entropy -------------------------------------------------------------------

/// A cross-entropy row's label: checked against the classes unless it is ignore_index.
struct Label {
  Expr kept;  ///< the row counts (its label is not ignore_index)
  Expr index; ///< the label, clamped into range
};

Label checkedLabel(Kernel &k, Block &body, const Node &n, int64_t classes, const Expr &row) {
  int trap = k.addTrap(fmt::format("{}: label {{}} is out of range [0, {})", n.name(), classes), 1);
  int raw = k.addVar("label", ScalarType::index);
  body.push_back(let(raw, cast(load(k, 1, {row}), ScalarType::index)));
  Expr y = varRef(k, raw);
  int kept = k.addVar("kept", ScalarType::boolean), ok = k.addVar("ok", ScalarType::boolean);
  body.push_back(let(kept, binary(BinaryOp::Ne, y, intConst(n.getInt("ignore_index")))));
  body.push_back(let(ok, binary(BinaryOp::And, binary(BinaryOp::Ge, y, intConst(0)),
                                binary(BinaryOp::Lt, y, intConst(classes)))));
  body.push_back(
      check(trap, binary(BinaryOp::Or, unary(UnaryOp::Not, varRef(k, kept)), varRef(k, ok)), row));
  int safe = k.addVar("label", ScalarType::index);
  body.push_back(let(safe, select(varRef(k, ok), y, intConst(0))));
  return {varRef(k, kept), varRef(k, safe)};
}

/// One group whose workers take the rows; the mean over kept rows sums in f64 like the
/// reference, each row's log-softmax in the logits' compute type.
std::optional<Kernel> lowerCrossEntropy(const Node &n) {
  const TensorType &type = n.operands[0]->type;
  int64_t classes = type.shape.back();
  int64_t rows = n.operands[1]->type.numElements();
  double eps = n.getFloat("label_smoothing");
  Kernel k = kernelFor(n);
  setView(k, 0, {rows, classes});
  setView(k, 1, {rows});
  ScalarType t = computeType(type.dtype), f64 = ScalarType::f64;
  auto c = [&](double v) { return constant(v, t); };
  int g = k.addVar("g", ScalarType::index), w = k.addVar("w", ScalarType::index);
  Expr row = varRef(k, w);
  auto x = [&](const Expr &j) { return load(k, 0, {row, j}); };
  auto rowSum = [&](Block &body, Expr init, auto update) {
    int acc = k.addVar("acc", t, true), j = k.addVar("r", ScalarType::index);
    body.push_back(accumulator(acc, std::move(init)));
    body.push_back(
        loop(j, LoopKind::Reduction, classes, {assign(acc, update(varRef(k, acc), varRef(k, j)))}));
    return varRef(k, acc);
  };
  Block per_row;
  Label label = checkedLabel(k, per_row, n, classes, row);
  Expr mx = rowSum(per_row, c(-std::numeric_limits<double>::infinity()),
                   [&](Expr acc, Expr j) { return maxOf(acc, x(j)); });
  Expr s = rowSum(per_row, c(0),
                  [&](Expr acc, Expr j) { return add(acc, unary(UnaryOp::Exp, sub(x(j), mx))); });
  int lse = k.addVar("lse", t);
  per_row.push_back(let(lse, add(mx, unary(UnaryOp::Log, s))));
  Expr vlse = varRef(k, lse);
  Expr picked = classes == 0 ? c(0) : x(label.index);
  Expr loss = mul(c(1 - eps), sub(vlse, picked));
  if (eps != 0) {
    Expr smooth =
        rowSum(per_row, c(0), [&](Expr acc, Expr j) { return add(acc, sub(vlse, x(j))); });
    loss = add(loss, div(mul(c(eps), smooth), c(static_cast<double>(classes))));
  }
  int total = k.addVar("total", f64, true), count = k.addVar("count", f64, true);
  per_row.push_back(
      assign(total, add(varRef(k, total), select(label.kept, cast(loss, f64), constant(0, f64)))));
  per_row.push_back(
      assign(count, add(varRef(k, count), select(label.kept, constant(1, f64), constant(0, f64)))));

  Block group;
  group.push_back(accumulator(total, constant(0, f64)));
  group.push_back(accumulator(count, constant(0, f64)));
  group.push_back(loop(w, LoopKind::Worker, rows, std::move(per_row)));
  group.push_back(Stmt{GroupReduce{total, BinaryOp::Add}});
  group.push_back(Stmt{GroupReduce{count, BinaryOp::Add}});
  group.push_back(store(2, {}, cast(div(varRef(k, total), varRef(k, count)), t)));
  k.body.push_back(loop(g, LoopKind::Group, 1, std::move(group)));
  return k;
}

/// g / count * (softmax - (1 - eps) onehot - eps / classes) on kept rows, 0 on ignored ones.
/// Each row's group counts the kept labels itself: rows * rows compares, against the
/// rows * classes exponentials of the softmax.
std::optional<Kernel> lowerCrossEntropyGrad(const Node &n) {
  const TensorType &type = n.operands[0]->type;
  int64_t classes = type.shape.back();
  int64_t rows = n.operands[1]->type.numElements();
  double eps = n.getFloat("label_smoothing");
  RowKernel rk(n, Rows{rows, classes, 1}, {0, 3});
  Kernel &k = rk.k;
  setView(k, 1, {rows});
  ScalarType t = computeType(type.dtype);
  auto c = [&](double v) { return constant(v, t); };
  Expr ignore = intConst(n.getInt("ignore_index"));
  int count = k.addVar("count", ScalarType::index, true), w = k.addVar("w", ScalarType::index);
  Expr kept = binary(BinaryOp::Ne, cast(load(k, 1, {varRef(k, w)}), ScalarType::index), ignore);
  rk.body.push_back(accumulator(count, intConst(0)));
  rk.body.push_back(
      loop(w, LoopKind::Worker, rows,
           {assign(count, add(varRef(k, count), select(kept, intConst(1), intConst(0))))}));
  rk.body.push_back(Stmt{GroupReduce{count, BinaryOp::Add}});
  Label label = checkedLabel(k, rk.body, n, classes, varRef(k, rk.group));
  auto x = [&](const Expr &w) { return load(k, 0, rk.at(w)); };
  int m = rk.reduce(t, c(-std::numeric_limits<double>::infinity()), BinaryOp::Max,
                    [&](Expr acc, Expr w) { return maxOf(acc, x(w)); });
  Expr vm = varRef(k, m);
  auto e = [&](const Expr &w) { return unary(UnaryOp::Exp, sub(x(w), vm)); };
  int s = rk.reduce(t, c(0), BinaryOp::Add, [&](Expr acc, Expr w) { return add(acc, e(w)); });
  int factor = k.addVar("factor", t);
  rk.body.push_back(let(factor, div(cast(load(k, 2, {}), t), cast(varRef(k, count), t))));
  rk.workers([&](Expr w) {
    Expr onehot = select(binary(BinaryOp::Eq, w, label.index), c(1 - eps), c(0));
    Expr d = sub(sub(div(e(w), varRef(k, s)), onehot), c(eps / static_cast<double>(classes)));
    return Block{store(3, rk.at(w), select(label.kept, mul(varRef(k, factor), d), c(0)))};
  });
  return rk.finish();
}

} // namespace

void addNNLowerings(LoweringTable &t) {
  addLowering(t, op::Softmax, lowerSoftmax);
  addLowering(t, op::SoftmaxGrad, lowerSoftmaxGrad);
  addLowering(t, op::LayerNorm, lowerLayerNorm);
  addLowering(t, op::LayerNormGrad, lowerLayerNormGrad);
  addLowering(t, op::SoftmaxCrossEntropy, lowerCrossEntropy);
  addLowering(t, op::SoftmaxCrossEntropyGrad, lowerCrossEntropyGrad);
}

} // namespace kiln::kernel
