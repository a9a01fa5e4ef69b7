// attention and attention_grad as group kernels over q, k, v seen as [batch, length, head].
// The forward op is one group per query row: its workers compute the row's scores into a
// local buffer, the group reduces them to the softmax, applies dropout and multiplies by v.
// The backward op is one group per batch: it keeps the probabilities of all its rows in local
// buffers, so that dk and dv, which sum over the rows, are each written by one group. Dropout
// draws the Philox numbers of random_uniform at the reference's counters, so a backend and the
// reference drop the same probabilities. No tiling yet: the backward op keeps Tq x Tk scores.

#include "backend/kernel/lowerings.h"

#include "ir/attention.h"
#include "ir/literal.h"

#include <limits>

namespace kiln::kernel {
namespace {

/// Shapes, operand roles and attributes of an attention node, and the expressions its
/// kernels share.
struct Attention {
  Kernel k;
  Shape batch;
  int64_t batches = 1, tq = 0, tk = 0, d = 0, dv = 0;
  int mask = -1, seed = -1;
  ScalarType t = ScalarType::f32;
  double scale = 1, dropout = 0;

  /// `operands` counts q, k, v, the mask and the seed (not attention_grad's cotangent).
  Attention(const Node &n, size_t operands) : k(kernelFor(n)) {
    const Shape &q = n.operands[0]->type.shape, &kk = n.operands[1]->type.shape,
                &v = n.operands[2]->type.shape;
    size_t r = q.size();
    batch.assign(q.begin(), q.end() - 2);
    batches = numElements(batch);
    tq = q[r - 2], tk = kk[r - 2], d = q[r - 1], dv = v[r - 1];
    t = computeType(n.operands[0]->type.dtype);
    scale = n.getFloat("scale"), dropout = n.getFloat("dropout");
    AttentionOperands roles = attentionOperands(operands, dropout);
    mask = roles.mask, seed = roles.seed;
    setView(k, 0, {batches, tq, d});
    setView(k, 1, {batches, tk, d});
    setView(k, 2, {batches, tk, dv});
    if (mask >= 0) {
      Shape aligned(r - n.operands[mask]->type.rank(), 1);
      for (int64_t e : n.operands[mask]->type.shape)
        aligned.push_back(e);
      setView(k, mask, aligned);
    }
    causal_ = n.getBool("causal");
    offset_ = n.getInt("dropout_offset");
    // The written-out dropout compares and scales with constants of the tensors' dtype.
    DType dt = n.operands[0]->type.dtype;
    threshold_ = roundTo(dropout, dt);
    keep_ = roundTo(1.0 / (1.0 - dropout), dt);
  }

  Expr c(double v) const { return constant(v, t); }
  Expr neg_inf() const { return c(-std::numeric_limits<double>::infinity()); }
  DType localType() const { return t == ScalarType::f64 ? DType::f64 : DType::f32; }

  /// A new index variable bound to `value` in `body`.
  Expr bind(Block &body, std::string_view name, Expr value) {
    int v = k.addVar(name, ScalarType::index);
    body.push_back(let(v, std::move(value)));
    return varRef(k, v);
  }

  /// The sum over `extent` of term(index), computed in `body` by a reduction loop.
  template <typename F> Expr sum(Block &body, int64_t extent, F term) {
    int acc = k.addVar("acc", t, true), r = k.addVar("r", ScalarType::index);
    body.push_back(accumulator(acc, c(0)));
    body.push_back(loop(r, LoopKind::Reduction, extent,
                        {assign(acc, add(varRef(k, acc), term(varRef(k, r))))}));
    return varRef(k, acc);
  }

  /// Score (b, i, j): q k^T * scale, masked, with causal's -inf above the diagonal.
  Expr score(Block &body, const Expr &b, const Expr &i, const Expr &j) {
    Expr s = mul(sum(body, d,
                     [&](Expr x) {
                       return mul(load(k, 0, {b, i, x}), load(k, 1, {b, j, x}));
                     }),
                 c(scale));
    if (mask >= 0) {
      std::vector<Expr> idx = unflattenIndex(b, batch);
      idx.push_back(i);
      idx.push_back(j);
      Expr m = load(k, mask, broadcastIndices(idx, k.buffers[mask].shape));
      s = m->type == ScalarType::boolean ? select(m, neg_inf(), s) : add(s, m);
    }
    if (causal_)
      s = select(binary(BinaryOp::Gt, j, i), neg_inf(), s);
    return s;
  }

  /// p times the dropout factor of (b, i, j): 0 or 1 / (1 - dropout) (p itself without it).
  Expr dropped(const Expr &p, const Expr &b, const Expr &i, const Expr &j) {
    if (dropout <= 0)
      return p;
    Expr row = add(mul(b, intConst(tq)), i);
    Expr counter = add(intConst(offset_), add(mul(row, intConst(tk)), j));
    Expr u = philox(keyWord(k, seed, 0), keyWord(k, seed, 1), counter, t);
    return mul(p, select(binary(BinaryOp::Ge, u, c(threshold_)), c(keep_), c(0)));
  }

private:
  bool causal_ = false;
  int64_t offset_ = 0;
  double threshold_ = 0, keep_ = 1;
};

std::optional<Kernel> lowerAttention(const Node &n) {
  Attention a(n, n.operands.size());
  Kernel &k = a.k;
  int out = static_cast<int>(n.operands.size());
  setView(k, out, {a.batches, a.tq, a.dv});
  int p = k.addBuffer("p", a.localType(), {a.tk}, Role::Local);
  int g = k.addVar("g", ScalarType::index);
  Block group;
  Expr b = a.bind(group, "b", div(varRef(k, g), intConst(a.tq)));
  Expr i = a.bind(group, "q", binary(BinaryOp::Rem, varRef(k, g), intConst(a.tq)));
  auto workers = [&](int64_t extent, auto f) {
    int w = k.addVar("w", ScalarType::index);
    Block body;
    f(body, varRef(k, w));
    group.push_back(loop(w, LoopKind::Worker, extent, std::move(body)));
  };
  auto reduced = [&](int var, BinaryOp op, Expr init, auto update) {
    group.push_back(accumulator(var, std::move(init)));
    workers(a.tk, [&](Block &body, Expr j) { body.push_back(assign(var, update(j))); });
    group.push_back(Stmt{GroupReduce{var, op}});
    return varRef(k, var);
  };
  workers(a.tk, [&](Block &body, Expr j) {
    Expr s = a.score(body, b, i, j);
    body.push_back(store(p, {j}, cast(s, computeType(a.localType()))));
  });
  group.push_back(Stmt{Barrier{}});
  int mx_var = k.addVar("max", a.t, true);
  Expr mx = reduced(mx_var, BinaryOp::Max, a.neg_inf(),
                    [&](Expr j) { return maxOf(varRef(k, mx_var), load(k, p, {j})); });
  int sum_var = k.addVar("sum", a.t, true);
  group.push_back(accumulator(sum_var, a.c(0)));
  workers(a.tk, [&](Block &body, Expr j) {
    int e = k.addVar("e", a.t);
    body.push_back(let(e, unary(UnaryOp::Exp, sub(load(k, p, {j}), mx))));
    body.push_back(store(p, {j}, varRef(k, e)));
    body.push_back(assign(sum_var, add(varRef(k, sum_var), varRef(k, e))));
  });
  group.push_back(Stmt{GroupReduce{sum_var, BinaryOp::Add}});
  Expr total = varRef(k, sum_var);
  workers(a.tk, [&](Block &body, Expr j) {
    body.push_back(store(p, {j}, a.dropped(div(load(k, p, {j}), total), b, i, j)));
  });
  group.push_back(Stmt{Barrier{}});
  workers(a.dv, [&](Block &body, Expr col) {
    Expr acc = a.sum(body, a.tk, [&](Expr j) {
      return mul(load(k, p, {j}), load(k, 2, {b, j, col}));
    });
    body.push_back(store(out, {b, i, col}, acc));
  });
  k.body.push_back(loop(g, LoopKind::Group, a.batches * a.tq, std::move(group)));
  return std::move(k);
}

/// dv = kept^T g; dp = (g v^T) * factor; ds = p (dp - sum(dp p)) * scale; dq = ds k; dk = ds^T q.
/// Local `p` holds the probabilities, local `t` first the kept probabilities, then ds.
std::optional<Kernel> lowerAttentionGrad(const Node &n) {
  size_t operands = n.operands.size();
  Attention a(n, operands - 1);
  Kernel &k = a.k;
  int gin = static_cast<int>(operands) - 1, dq = gin + 1, dk = gin + 2, dvb = gin + 3;
  setView(k, gin, {a.batches, a.tq, a.dv});
  setView(k, dq, {a.batches, a.tq, a.d});
  setView(k, dk, {a.batches, a.tk, a.d});
  setView(k, dvb, {a.batches, a.tk, a.dv});
  int p = k.addBuffer("p", a.localType(), {a.tq, a.tk}, Role::Local);
  int tb = k.addBuffer("t", a.localType(), {a.tq, a.tk}, Role::Local);
  ScalarType lt = computeType(a.localType());
  int bv = k.addVar("b", ScalarType::index);
  Expr b = varRef(k, bv);
  Block group;
  auto workers = [&](int64_t extent, auto f) {
    int w = k.addVar("w", ScalarType::index);
    Block body;
    f(body, varRef(k, w));
    group.push_back(loop(w, LoopKind::Worker, extent, std::move(body)));
  };
  auto serial = [&](Block &body, int64_t extent, auto f) {
    int j = k.addVar("j", ScalarType::index);
    Block inner;
    f(inner, varRef(k, j));
    body.push_back(loop(j, LoopKind::Serial, extent, std::move(inner)));
  };
  // Scores of every (i, j), then the softmax of each row.
  workers(a.tq * a.tk, [&](Block &body, Expr w) {
    Expr i = a.bind(body, "q", div(w, intConst(a.tk)));
    Expr j = a.bind(body, "k", binary(BinaryOp::Rem, w, intConst(a.tk)));
    body.push_back(store(p, {i, j}, cast(a.score(body, b, i, j), lt)));
  });
  group.push_back(Stmt{Barrier{}});
  workers(a.tq, [&](Block &body, Expr i) {
    int mx = k.addVar("max", a.t, true), r = k.addVar("r", ScalarType::index);
    body.push_back(accumulator(mx, a.neg_inf()));
    body.push_back(loop(r, LoopKind::Reduction, a.tk,
                        {assign(mx, maxOf(varRef(k, mx), load(k, p, {i, varRef(k, r)})))}));
    serial(body, a.tk, [&](Block &inner, Expr j) {
      inner.push_back(
          store(p, {i, j}, unary(UnaryOp::Exp, sub(load(k, p, {i, j}), varRef(k, mx)))));
    });
    Expr total = a.sum(body, a.tk, [&](Expr j) { return load(k, p, {i, j}); });
    serial(body, a.tk, [&](Block &inner, Expr j) {
      int pj = k.addVar("p", a.t);
      inner.push_back(let(pj, div(load(k, p, {i, j}), total)));
      inner.push_back(store(p, {i, j}, varRef(k, pj)));
      inner.push_back(store(tb, {i, j}, a.dropped(varRef(k, pj), b, i, j)));
    });
  });
  group.push_back(Stmt{Barrier{}});
  workers(a.tk * a.dv, [&](Block &body, Expr w) {
    Expr j = a.bind(body, "k", div(w, intConst(a.dv)));
    Expr col = a.bind(body, "c", binary(BinaryOp::Rem, w, intConst(a.dv)));
    Expr acc = a.sum(body, a.tq, [&](Expr i) {
      return mul(load(k, tb, {i, j}), load(k, gin, {b, i, col}));
    });
    body.push_back(store(dvb, {b, j, col}, acc));
  });
  group.push_back(Stmt{Barrier{}});
  workers(a.tq, [&](Block &body, Expr i) {
    serial(body, a.tk, [&](Block &inner, Expr j) {
      Expr dkept = a.sum(inner, a.dv, [&](Expr col) {
        return mul(load(k, gin, {b, i, col}), load(k, 2, {b, j, col}));
      });
      inner.push_back(store(tb, {i, j}, a.dropped(dkept, b, i, j)));
    });
    Expr dot = a.sum(body, a.tk, [&](Expr j) {
      return mul(load(k, tb, {i, j}), load(k, p, {i, j}));
    });
    int dot_var = k.addVar("dot", a.t);
    body.push_back(let(dot_var, dot));
    serial(body, a.tk, [&](Block &inner, Expr j) {
      Expr ds =
          mul(mul(load(k, p, {i, j}), sub(load(k, tb, {i, j}), varRef(k, dot_var))), a.c(a.scale));
      inner.push_back(store(tb, {i, j}, ds));
    });
  });
  group.push_back(Stmt{Barrier{}});
  workers(a.tq * a.d, [&](Block &body, Expr w) {
    Expr i = a.bind(body, "q", div(w, intConst(a.d)));
    Expr col = a.bind(body, "c", binary(BinaryOp::Rem, w, intConst(a.d)));
    Expr acc = a.sum(body, a.tk, [&](Expr j) {
      return mul(load(k, tb, {i, j}), load(k, 1, {b, j, col}));
    });
    body.push_back(store(dq, {b, i, col}, acc));
  });
  workers(a.tk * a.d, [&](Block &body, Expr w) {
    Expr j = a.bind(body, "k", div(w, intConst(a.d)));
    Expr col = a.bind(body, "c", binary(BinaryOp::Rem, w, intConst(a.d)));
    Expr acc = a.sum(body, a.tq, [&](Expr i) {
      return mul(load(k, tb, {i, j}), load(k, 0, {b, i, col}));
    });
    body.push_back(store(dk, {b, j, col}, acc));
  });
  k.body.push_back(loop(bv, LoopKind::Group, a.batches, std::move(group)));
  return std::move(k);
}

} // namespace

void addAttentionLowerings(LoweringTable &t) {
  addLowering(t, op::Attention, lowerAttention);
  addLowering(t, op::AttentionGrad, lowerAttentionGrad);
}

} // namespace kiln::kernel
