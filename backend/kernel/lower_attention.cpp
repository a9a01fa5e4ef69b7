// attention and attention_grad as group kernels over q, k, v seen as [batch, length, head], in
// FlashAttention's scheme: no kernel holds a [Tq, Tk] matrix of scores, whatever the lengths.
//
// The forward op runs one group per batch and tile of kQueryTile query rows, and walks the keys
// in tiles of kKeyTile. For each key tile, a worker per query row computes the tile's scores and
// folds them into the row's running maximum, sum of exponentials and output with an online
// softmax, rescaling what it holds whenever the maximum grows; the output is divided by the sum
// at the end. Under `causal`, key tiles wholly above the diagonal are skipped.
//
// The backward op runs one group per batch. A worker per query row finds, in one online pass over
// the keys, its row's log-sum-exp and D = sum_j p_ij dp_ij, then its dq; after a barrier, a
// worker per key computes its dk and dv over the rows, recomputing each probability from its
// row's log-sum-exp (causal skips the same tiles, seen from the keys). The scores are computed
// three times rather than kept: the price of locals that grow with Tq only.
//
// Dropout draws the Philox numbers of random_uniform at the reference's counters, so a backend and
// the reference drop the same probabilities.

#include "backend/kernel/lowerings.h"

#include "ir/attention.h"
#include "ir/literal.h"

#include <algorithm>
#include <limits>

namespace kiln::kernel {
namespace {

/// Query rows per group of the forward kernel, and keys per tile of both kernels.
constexpr int64_t kQueryTile = 32, kKeyTile = 64;

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

  bool causal() const { return causal_; }

  /// A new variable of type `type` bound to `value` in `body`.
  Expr bind(Block &body, std::string_view name, Expr value, ScalarType type = ScalarType::index) {
    int v = k.addVar(name, type);
    body.push_back(let(v, std::move(value)));
    return varRef(k, v);
  }

  /// A running maximum, or 0 while it is still -inf, to subtract before exp: a row whose scores
  /// so far are all masked then adds exp(-inf) = 0 rather than exp(-inf - -inf) = NaN.
  Expr finite(const Expr &m) const { return select(binary(BinaryOp::Eq, m, neg_inf()), c(0), m); }

  /// A serial loop over `extent` whose body f(body, index) builds.
  template <typename F> void serial(Block &body, int64_t extent, F f) {
    int v = k.addVar("j", ScalarType::index);
    Block inner;
    f(inner, varRef(k, v));
    body.push_back(loop(v, LoopKind::Serial, extent, std::move(inner)));
  }

  /// `block` appended to `body`, under `cond` when there is one.
  static void guard(Block &body, Expr cond, Block block) {
    if (cond) {
      body.push_back(ifThen(std::move(cond), std::move(block)));
      return;
    }
    for (Stmt &s : block)
      body.push_back(std::move(s));
  }

  /// Tiles of `size` over `length` (the last one shorter where size does not divide it):
  /// tile(body, start, extent) builds each, run only where needed(start, extent) holds (always
  /// when it gives no condition).
  template <typename Tile, typename Needed>
  void tiles(Block &body, int64_t length, int64_t size, Tile tile, Needed needed) {
    auto one = [&](Block &where, const Expr &start, int64_t extent) {
      Block inner;
      tile(inner, start, extent);
      guard(where, needed(start, extent), std::move(inner));
    };
    int64_t full = length / size, rest = length % size;
    if (full > 0) {
      int t = k.addVar("t", ScalarType::index);
      Block inner;
      one(inner, bind(inner, "start", mul(varRef(k, t), intConst(size))), size);
      body.push_back(loop(t, LoopKind::Serial, full, std::move(inner)));
    }
    if (rest > 0)
      one(body, intConst(full * size), rest);
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
    if (mask >= 0 && !boolMask())
      s = add(s, maskAt(b, i, j));
    Expr h = hidden(b, i, j);
    return h ? select(h, neg_inf(), s) : s;
  }

  /// Whether a bool mask or causal hides key j from row (b, i), or null when nothing can.
  Expr hidden(const Expr &b, const Expr &i, const Expr &j) {
    Expr h = boolMask() ? maskAt(b, i, j) : nullptr;
    if (causal_) {
      Expr above = binary(BinaryOp::Gt, j, i);
      h = h ? binary(BinaryOp::Or, h, above) : above;
    }
    return h;
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
  bool boolMask() const { return mask >= 0 && k.buffers[mask].dtype == DType::boolean; }

  /// The mask's element for score (b, i, j), broadcast.
  Expr maskAt(const Expr &b, const Expr &i, const Expr &j) {
    std::vector<Expr> idx = unflattenIndex(b, batch);
    idx.push_back(i);
    idx.push_back(j);
    return load(k, mask, broadcastIndices(idx, k.buffers[mask].shape));
  }

  bool causal_ = false;
  int64_t offset_ = 0;
  double threshold_ = 0, keep_ = 1;
};

std::optional<Kernel> lowerAttention(const Node &n) {
  Attention a(n, n.operands.size());
  Kernel &k = a.k;
  int out = static_cast<int>(n.operands.size());
  setView(k, out, {a.batches, a.tq, a.dv});
  int64_t rows = std::clamp<int64_t>(a.tq, 1, kQueryTile),
          keys = std::clamp<int64_t>(a.tk, 1, kKeyTile);
  int64_t row_tiles = (a.tq + rows - 1) / rows;
  DType lt = a.localType();
  int s = k.addBuffer("s", lt, {rows, keys}, Role::Local);
  int mx = k.addBuffer("m", lt, {rows}, Role::Local);
  int sum = k.addBuffer("l", lt, {rows}, Role::Local);
  int acc = k.addBuffer("o", lt, {rows, a.dv}, Role::Local);
  int g = k.addVar("g", ScalarType::index);
  Block group;
  Expr b = a.bind(group, "b", div(varRef(k, g), intConst(row_tiles)));
  Expr i0 = a.bind(group, "first",
                   mul(binary(BinaryOp::Rem, varRef(k, g), intConst(row_tiles)), intConst(rows)));
  // A worker per row of the query tile; f(body, w, i) for row i = i0 + w, within the query.
  auto row_workers = [&](Block &where, auto f) {
    int w = k.addVar("w", ScalarType::index);
    Block body;
    Expr i = a.bind(body, "q", add(i0, varRef(k, w)));
    Block row;
    f(row, varRef(k, w), i);
    a.guard(body, a.tq % rows == 0 ? nullptr : binary(BinaryOp::Lt, i, intConst(a.tq)),
            std::move(row));
    where.push_back(loop(w, LoopKind::Worker, rows, std::move(body)));
  };
  row_workers(group, [&](Block &row, Expr w, Expr) {
    row.push_back(store(mx, {w}, a.neg_inf()));
    row.push_back(store(sum, {w}, a.c(0)));
    a.serial(row, a.dv, [&](Block &in, Expr c) { in.push_back(store(acc, {w, c}, a.c(0))); });
  });
  auto key_tile = [&](Block &where, Expr start, int64_t extent) {
    row_workers(where, [&](Block &row, Expr w, Expr i) {
      Block work;
      a.serial(work, extent, [&](Block &in, Expr r) {
        in.push_back(store(s, {w, r}, a.score(in, b, i, add(start, r))));
      });
      int m_new = k.addVar("max", a.t, true), r = k.addVar("r", ScalarType::index);
      work.push_back(accumulator(m_new, load(k, mx, {w})));
      work.push_back(loop(r, LoopKind::Reduction, extent,
                          {assign(m_new, maxOf(varRef(k, m_new), load(k, s, {w, varRef(k, r)})))}));
      Expr base = a.bind(work, "base", a.finite(varRef(k, m_new)), a.t);
      Expr alpha = a.bind(work, "alpha", unary(UnaryOp::Exp, sub(load(k, mx, {w}), base)), a.t);
      int total = k.addVar("sum", a.t, true), e = k.addVar("e", a.t);
      int r2 = k.addVar("r", ScalarType::index);
      Expr j = add(start, varRef(k, r2));
      work.push_back(accumulator(total, a.c(0)));
      work.push_back(loop(r2, LoopKind::Reduction, extent,
                          {let(e, unary(UnaryOp::Exp, sub(load(k, s, {w, varRef(k, r2)}), base))),
                           store(s, {w, varRef(k, r2)}, a.dropped(varRef(k, e), b, i, j)),
                           assign(total, add(varRef(k, total), varRef(k, e)))}));
      work.push_back(store(sum, {w}, add(mul(load(k, sum, {w}), alpha), varRef(k, total))));
      a.serial(work, a.dv, [&](Block &in, Expr c) {
        in.push_back(store(acc, {w, c}, mul(load(k, acc, {w, c}), alpha)));
      });
      a.serial(work, extent, [&](Block &in, Expr r) {
        a.serial(in, a.dv, [&](Block &inner, Expr c) {
          inner.push_back(store(acc, {w, c},
                                add(load(k, acc, {w, c}),
                                    mul(load(k, s, {w, r}), load(k, 2, {b, add(start, r), c})))));
        });
      });
      work.push_back(store(mx, {w}, varRef(k, m_new)));
      a.guard(row, a.causal() ? binary(BinaryOp::Le, start, i) : nullptr, std::move(work));
    });
  };
  a.tiles(group, a.tk, keys, key_tile, [&](const Expr &start, int64_t) -> Expr {
    return a.causal() ? binary(BinaryOp::Le, start, add(i0, intConst(rows - 1))) : nullptr;
  });
  row_workers(group, [&](Block &row, Expr w, Expr i) {
    a.serial(row, a.dv, [&](Block &in, Expr c) {
      // Without keys there is nothing to average: 0, as the reference gives.
      Expr mean = a.tk == 0 ? a.c(0) : div(load(k, acc, {w, c}), load(k, sum, {w}));
      in.push_back(store(out, {b, i, c}, mean));
    });
  });
  k.body.push_back(loop(g, LoopKind::Group, a.batches * row_tiles, std::move(group)));
  return std::move(k);
}

/// With p = exp(s - lse) and dp = dropped(g v^T): D = sum_j p dp; ds = p (dp - D) * scale;
/// dq = ds k; dk = ds^T q; dv = dropped(p)^T g.
std::optional<Kernel> lowerAttentionGrad(const Node &n) {
  size_t operands = n.operands.size();
  Attention a(n, operands - 1);
  Kernel &k = a.k;
  int gin = static_cast<int>(operands) - 1, dq = gin + 1, dk = gin + 2, dvb = gin + 3;
  setView(k, gin, {a.batches, a.tq, a.dv});
  setView(k, dq, {a.batches, a.tq, a.d});
  setView(k, dk, {a.batches, a.tk, a.d});
  setView(k, dvb, {a.batches, a.tk, a.dv});
  int64_t rows = std::clamp<int64_t>(a.tq, 1, kQueryTile),
          keys = std::clamp<int64_t>(a.tk, 1, kKeyTile);
  int lse = k.addBuffer("lse", a.localType(), {a.tq}, Role::Local);
  int dsum = k.addBuffer("d", a.localType(), {a.tq}, Role::Local);
  int bv = k.addVar("b", ScalarType::index);
  Expr b = varRef(k, bv);
  Block group;
  auto workers = [&](int64_t extent, auto f) {
    int w = k.addVar("w", ScalarType::index);
    Block body;
    f(body, varRef(k, w));
    group.push_back(loop(w, LoopKind::Worker, extent, std::move(body)));
  };
  // The keys of row i (under causal, the tiles that reach the diagonal), and the rows of key j.
  auto keys_of = [&](Block &body, const Expr &i, auto f) {
    auto tile = [&](Block &where, Expr start, int64_t extent) {
      a.serial(where, extent, [&](Block &in, Expr r) { f(in, a.bind(in, "k", add(start, r))); });
    };
    a.tiles(body, a.tk, keys, tile, [&](const Expr &start, int64_t) -> Expr {
      return a.causal() ? binary(BinaryOp::Le, start, i) : nullptr;
    });
  };
  // Under causal with a mask: whether some row of the batch is wholly masked.
  int hidden = a.causal() && a.mask >= 0 ? k.addVar("hidden", a.t, true) : -1;
  auto rows_of = [&](Block &body, const Expr &j, auto f) {
    auto tile = [&](Block &where, Expr start, int64_t extent) {
      a.serial(where, extent, [&](Block &in, Expr r) { f(in, a.bind(in, "q", add(start, r))); });
    };
    a.tiles(body, a.tq, rows, tile, [&](const Expr &start, int64_t extent) -> Expr {
      if (!a.causal())
        return nullptr;
      Expr reaches = binary(BinaryOp::Ge, add(start, intConst(extent - 1)), j);
      // A row that the mask hides wholly gives NaN to every key's dv, as in the reference: no
      // tile is skipped then.
      return hidden < 0
                 ? reaches
                 : binary(BinaryOp::Or, reaches, binary(BinaryOp::Gt, varRef(k, hidden), a.c(0)));
    });
  };
  auto dp = [&](Block &body, const Expr &i, const Expr &j) {
    Expr dot = a.sum(body, a.dv, [&](Expr c) {
      return mul(load(k, gin, {b, i, c}), load(k, 2, {b, j, c}));
    });
    return a.bind(body, "dp", a.dropped(dot, b, i, j), a.t);
  };
  auto probability = [&](Block &body, const Expr &i, const Expr &j) {
    return a.bind(body, "p", unary(UnaryOp::Exp, sub(a.score(body, b, i, j), load(k, lse, {i}))),
                  a.t);
  };
  // 0 where the key is hidden: the score there is a constant -inf, which gets no gradient, in a
  // row hidden wholly (whose probabilities are NaN) too.
  auto ds = [&](Block &body, const Expr &p, const Expr &dpv, const Expr &i, const Expr &j) {
    Expr v = mul(mul(p, sub(dpv, load(k, dsum, {i}))), a.c(a.scale));
    Expr h = a.hidden(b, i, j);
    return a.bind(body, "ds", h ? select(h, a.c(0), v) : v, a.t);
  };
  auto zero = [&](Block &body, int buffer, const Expr &row, int64_t width) {
    a.serial(body, width, [&](Block &in, Expr c) {
      in.push_back(store(buffer, {b, row, c}, a.c(0)));
    });
  };
  auto add_to = [&](Block &body, int buffer, const Expr &row, const Expr &factor, int src,
                    const Expr &src_row, int64_t width) {
    a.serial(body, width, [&](Block &in, Expr c) {
      in.push_back(
          store(buffer, {b, row, c},
                add(load(k, buffer, {b, row, c}), mul(factor, load(k, src, {b, src_row, c})))));
    });
  };
  workers(a.tq, [&](Block &body, Expr i) {
    int m = k.addVar("max", a.t, true), l = k.addVar("sum", a.t, true);
    int num = k.addVar("num", a.t, true);
    body.push_back(accumulator(m, a.neg_inf()));
    body.push_back(accumulator(l, a.c(0)));
    body.push_back(accumulator(num, a.c(0)));
    keys_of(body, i, [&](Block &in, Expr j) {
      Expr s = a.bind(in, "s", a.score(in, b, i, j), a.t);
      Expr m_new = a.bind(in, "m", maxOf(varRef(k, m), s), a.t);
      Expr base = a.bind(in, "base", a.finite(m_new), a.t);
      Expr alpha = a.bind(in, "alpha", unary(UnaryOp::Exp, sub(varRef(k, m), base)), a.t);
      Expr e = a.bind(in, "e", unary(UnaryOp::Exp, sub(s, base)), a.t);
      Expr dpv = dp(in, i, j);
      in.push_back(assign(l, add(mul(varRef(k, l), alpha), e)));
      in.push_back(assign(num, add(mul(varRef(k, num), alpha), mul(e, dpv))));
      in.push_back(assign(m, m_new));
    });
    body.push_back(store(lse, {i}, add(a.finite(varRef(k, m)), unary(UnaryOp::Log, varRef(k, l)))));
    body.push_back(store(dsum, {i}, div(varRef(k, num), varRef(k, l))));
    if (hidden >= 0)
      body.push_back(
          assign(hidden, maxOf(varRef(k, hidden), select(binary(BinaryOp::Eq, varRef(k, l), a.c(0)),
                                                         a.c(1), a.c(0)))));
    zero(body, dq, i, a.d);
    keys_of(body, i, [&](Block &in, Expr j) {
      Expr p = probability(in, i, j);
      add_to(in, dq, i, ds(in, p, dp(in, i, j), i, j), 1, j, a.d);
    });
  });
  if (hidden >= 0) {
    group.insert(group.end() - 1, accumulator(hidden, a.c(0)));
    group.push_back(Stmt{GroupReduce{hidden, BinaryOp::Max}});
  }
  group.push_back(Stmt{Barrier{}});
  workers(a.tk, [&](Block &body, Expr j) {
    zero(body, dk, j, a.d);
    zero(body, dvb, j, a.dv);
    rows_of(body, j, [&](Block &in, Expr i) {
      Expr p = probability(in, i, j);
      Expr dsv = ds(in, p, dp(in, i, j), i, j);
      add_to(in, dvb, j, a.bind(in, "kept", a.dropped(p, b, i, j), a.t), gin, i, a.dv);
      add_to(in, dk, j, dsv, 0, i, a.d);
    });
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
