#include "tests/fuzz/graph_generator.h"

#include "tests/conformance/samples.h"

#include <array>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <span>

namespace kiln::fuzz {
namespace {

/// A value of the graph being built: its name, its shape (the dtype is the graph's), and a
/// rough bound on its magnitude, which keeps exp from overflowing and sums from cancelling
/// catastrophically (both would make honest backends differ).
struct Val {
  std::string name;
  Shape shape;
  double bound = 1;
  bool constant = false; ///< a non-zero scalar constant (what div may divide by)
};

std::string shapeText(const Shape &s) { return fmt::format("[{}]", fmt::join(s, ",")); }
std::string listText(const Shape &s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

Shape withoutLast(const Shape &s) { return Shape(s.begin(), s.end() - 1); }
int64_t last(const Shape &s) { return s.empty() ? 1 : s.back(); }

/// Builds the text of a graph one line at a time.
class Builder {
public:
  Builder(ByteReader &r, GeneratedGraph &out, const GeneratorOptions &options)
      : r_(r), out_(out), options(options) {}

  ByteReader &r_;
  GeneratedGraph &out_;
  GeneratorOptions options;
  std::string dt = "f32";  ///< the float dtype of the composition
  bool train = false;      ///< avoid ops whose gradient jumps (relu, abs, max): see below
  std::vector<Val> pool;   ///< values the composition may read
  std::optional<Val> loss; ///< the cross-entropy, once written
  int params = 0;

  std::string type(const Shape &s) const { return dt + shapeText(s); }

  /// A new graph input.
  Val input(const std::string &kind, const std::string &prefix, const Shape &s, double bound = 1) {
    Val v{fmt::format("%{}{}", prefix, inputs_++), s, bound};
    lines_in_.push_back(fmt::format("  input {} {}: {}", kind, v.name, type(s)));
    params += kind == "param";
    return v;
  }
  /// A new node of the graph's float dtype.
  Val node(const std::string &expr, const Shape &s, double bound) {
    Val v{fmt::format("%n{}", nodes_++), s, bound};
    lines_.push_back(fmt::format("  {} = {} : {}", v.name, expr, type(s)));
    return v;
  }
  /// A node of another type, written out in full ("i64[2,1]", "bool[2]").
  std::string raw(const std::string &expr, const std::string &full_type) {
    std::string name = fmt::format("%n{}", nodes_++);
    lines_.push_back(fmt::format("  {} = {} : {}", name, expr, full_type));
    return name;
  }
  /// A scalar constant of the graph's dtype.
  Val constant(double c) {
    std::string attrs = dt == "f32" ? fmt::format("{{value = [{}]}}", c)
                                    : fmt::format("{{dtype = {}, value = [{}]}}", dt, c);
    Val v = node("constant() " + attrs, {}, std::abs(c));
    v.constant = c != 0;
    return v;
  }
  void line(const std::string &l) { lines_.push_back(l); }
  void inputLine(const std::string &l) { lines_in_.push_back(l); }

  std::string text(const std::vector<std::pair<std::string, std::string>> &outputs) const {
    std::string t = "graph @fuzz {\n";
    for (const std::string &l : lines_in_)
      t += l + "\n";
    for (const std::string &l : lines_)
      t += l + "\n";
    for (const auto &[name, value] : outputs)
      t += fmt::format("  output \"{}\" = {}\n", name, value);
    return t + "}\n";
  }

private:
  std::vector<std::string> lines_in_, lines_;
  int inputs_ = 0, nodes_ = 0;
};

// ---- elementwise, reductions, matmul ---------------------------------------------------------

Val unary(Builder &b, const Val &x) {
  // relu and abs have gradients that jump at 0, where a rounding difference between two
  // honest backends flips them: only forward graphs use them.
  std::vector<std::string> ops = {"neg", "tanh", "sigmoid", "gelu"};
  if (!b.train) {
    ops.push_back("relu");
    ops.push_back("abs");
  }
  if (x.bound <= 4)
    ops.push_back("exp");
  std::string op = b.r_.pick(std::span<const std::string>(ops));
  double bound = op == "exp" ? std::exp(x.bound) : op == "tanh" || op == "sigmoid" ? 1 : x.bound;
  return b.node(fmt::format("{}({})", op, x.name), x.shape, bound);
}

/// A second operand for x: another value of its shape, a bias over its last axis, a scalar.
Val operandFor(Builder &b, const Val &x) {
  std::vector<Val> same;
  for (const Val &v : b.pool)
    if (v.shape == x.shape)
      same.push_back(v);
  switch (b.r_.below(4)) {
  case 0:
    return b.r_.pick(std::span<const Val>(same)); // x itself is among them
  case 1:
    return x.shape.empty() ? b.constant(0.5) : b.input("param", "p", {last(x.shape)});
  case 2:
    return b.constant(std::array{0.5, 2.0, -1.0, 0.125}[b.r_.below(4)]);
  default:
    return b.input("data", "x", x.shape);
  }
}

Val binary(Builder &b, const Val &x) {
  Val y = operandFor(b, x);
  std::vector<std::string> ops = {"add", "sub", "mul"};
  if (!b.train)
    ops.push_back("max");
  if (y.constant)
    ops.push_back("div"); // by a non-zero constant only
  std::string op = b.r_.pick(std::span<const std::string>(ops));
  double bound = op == "mul"   ? x.bound * y.bound
                 : op == "div" ? x.bound / y.bound
                               : x.bound + y.bound;
  bool swap = op != "div" && b.r_.oneIn(2);
  return b.node(fmt::format("{}({}, {})", op, swap ? y.name : x.name, swap ? x.name : y.name),
                x.shape, bound);
}

Val reduction(Builder &b, const Val &x) {
  if (x.shape.empty())
    return unary(b, x);
  std::vector<std::string> ops = {"reduce_sum", "reduce_mean"};
  if (!b.train)
    ops.push_back("reduce_max");
  std::string op = b.r_.pick(std::span<const std::string>(ops));
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = b.r_.oneIn(3) ? 0 : rank - 1;
  bool keepdims = rank == 1 || b.r_.oneIn(2);
  Shape s = x.shape;
  if (keepdims)
    s[axis] = 1;
  else
    s.erase(s.begin() + axis);
  double bound = op == "reduce_sum" ? x.bound * static_cast<double>(x.shape[axis]) : x.bound;
  return b.node(fmt::format("{}({}) {{axes = [{}]{}}}", op, x.name, axis == 0 ? 0 : -1,
                            keepdims ? ", keepdims = true" : ""),
                s, bound);
}

Val matmul(Builder &b, const Val &x) {
  if (x.shape.size() < 2)
    return binary(b, x);
  int64_t k = last(x.shape), n = b.r_.between(1, 5);
  bool tb = b.r_.oneIn(2);
  Val w = b.input("param", "p", tb ? Shape{n, k} : Shape{k, n});
  Shape s = withoutLast(x.shape);
  s.push_back(n);
  return b.node(fmt::format("matmul({}, {}){}", x.name, w.name, tb ? " {transpose_b = true}" : ""),
                s, x.bound * static_cast<double>(k));
}

// ---- the unfused spellings -------------------------------------------------------------------

/// The softmax over the last axis: stable (x - max), plain exp, or the op itself.
Val softmax(Builder &b, const Val &x) {
  if (x.shape.empty())
    return unary(b, x);
  Shape r = withoutLast(x.shape);
  r.push_back(1);
  int way = b.r_.below(3);
  if (way == 2)
    return b.node(fmt::format("softmax({})", x.name), x.shape, 1);
  if (way == 1 && x.bound > 20)
    way = 0;
  std::string z = x.name;
  if (way == 0) {
    Val m =
        b.node(fmt::format("reduce_max({}) {{axes = [-1], keepdims = true}}", x.name), r, x.bound);
    z = b.node(fmt::format("sub({}, {})", x.name, m.name), x.shape, 2 * x.bound).name;
  }
  Val e = b.node(fmt::format("exp({})", z), x.shape, 1);
  Val s = b.node(fmt::format("reduce_sum({}) {{axes = [-1], keepdims = true}}", e.name), r, 1);
  return b.node(fmt::format("div({}, {})", e.name, s.name), x.shape, 1);
}

/// The layer norm over the last axis, variance from (x - mean)^2, with or without weight and
/// bias. (The moments form mean(x^2) - mean^2 cancels in f32, where the fused op does not: the
/// two would differ honestly.)
Val layerNorm(Builder &b, const Val &x) {
  if (x.shape.empty())
    return unary(b, x);
  Shape r = withoutLast(x.shape);
  r.push_back(1);
  Val mu =
      b.node(fmt::format("reduce_mean({}) {{axes = [-1], keepdims = true}}", x.name), r, x.bound);
  Val c = b.node(fmt::format("sub({}, {})", x.name, mu.name), x.shape, 2 * x.bound);
  Val sq = b.r_.oneIn(2)
               ? b.node(fmt::format("mul({}, {})", c.name, c.name), x.shape, 1)
               : b.node(fmt::format("pow({}, {})", c.name, b.constant(2).name), x.shape, 1);
  Val var = b.node(fmt::format("reduce_mean({}) {{axes = [-1], keepdims = true}}", sq.name), r, 1);
  Val eps = b.constant(b.r_.oneIn(2) ? 1e-5 : 1e-3);
  Val ve = b.r_.oneIn(2) ? b.node(fmt::format("add({}, {})", var.name, eps.name), r, 1)
                         : b.node(fmt::format("add({}, {})", eps.name, var.name), r, 1);
  double bound = std::sqrt(static_cast<double>(last(x.shape)));
  Val y = b.r_.oneIn(2) ? b.node(fmt::format("mul({}, {})", c.name,
                                             b.node(fmt::format("rsqrt({})", ve.name), r, 1).name),
                                 x.shape, bound)
                        : b.node(fmt::format("div({}, {})", c.name,
                                             b.node(fmt::format("sqrt({})", ve.name), r, 1).name),
                                 x.shape, bound);
  if (b.r_.oneIn(2)) {
    Val w = b.input("param", "p", {last(x.shape)});
    y = b.node(fmt::format("mul({}, {})", y.name, w.name), x.shape, bound);
    if (b.r_.oneIn(2)) {
      Val bias = b.input("param", "p", {last(x.shape)});
      y = b.node(fmt::format("add({}, {})", y.name, bias.name), x.shape, bound + 1);
    }
  }
  return y;
}

/// Scaled dot-product attention with x as the queries [.., Tq, d]: keys and values are x
/// itself or fresh inputs; the scale before or after the scores' matmul; an optional additive
/// or boolean mask; the softmax in one of its spellings.
Val attention(Builder &b, const Val &x) {
  if (x.shape.size() < 2 || x.bound > 8)
    return softmax(b, x);
  int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t tq = x.shape[rank - 2], d = x.shape[rank - 1];
  bool self = b.r_.oneIn(2);
  int64_t tk = self ? tq : b.r_.between(1, 5), dv = self ? d : b.r_.between(1, 5);
  Shape ks = withoutLast(withoutLast(x.shape)), vs = ks;
  ks.insert(ks.end(), {tk, d});
  vs.insert(vs.end(), {tk, dv});
  Val k = self ? x : b.input("data", "x", ks), v = self ? x : b.input("data", "x", vs);
  Shape ss = withoutLast(withoutLast(x.shape));
  ss.insert(ss.end(), {tq, tk});
  double scale = 1 / std::sqrt(static_cast<double>(d));
  Val q = x;
  Val s;
  switch (b.r_.below(3)) {
  case 0: // on q, before the matmul
    q = b.node(fmt::format("mul({}, {})", x.name, b.constant(scale).name), x.shape, x.bound);
    s = b.node(fmt::format("matmul({}, {}) {{transpose_b = true}}", q.name, k.name), ss, 8);
    break;
  case 1: // a division after it
    s = b.node(fmt::format("matmul({}, {}) {{transpose_b = true}}", q.name, k.name), ss, 8);
    s = b.node(fmt::format("div({}, {})", s.name, b.constant(1 / scale).name), ss, 8);
    break;
  default: { // k transposed explicitly, the scale multiplied after the matmul
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < rank; ++i)
      perm.push_back(i < rank - 2 ? i : i == rank - 2 ? rank - 1 : rank - 2);
    Shape kts = withoutLast(withoutLast(ks));
    kts.insert(kts.end(), {d, tk});
    Val kt = b.node(fmt::format("transpose({}) {{perm = {}}}", k.name, listText(perm)), kts, 1);
    s = b.node(fmt::format("matmul({}, {})", q.name, kt.name), ss, 8);
    s = b.node(fmt::format("mul({}, {})", s.name, b.constant(scale).name), ss, 8);
  }
  }
  switch (b.r_.below(3)) {
  case 0: { // an additive mask that is data
    Val m = b.input("data", "x", {tq, tk});
    s = b.node(fmt::format("add({}, {})", s.name, m.name), ss, 9);
    break;
  }
  case 1: { // keep ? scores : -inf, from boolean data
    std::string keep = fmt::format("%keep{}", b.pool.size());
    b.inputLine(fmt::format("  input data {}: bool{}", keep, shapeText({tq, tk})));
    Val ninf = b.constant(-INFINITY);
    s = b.node(fmt::format("select({}, {}, {})", keep, s.name, ninf.name), ss, 8);
    break;
  }
  default:
    break;
  }
  Val p = softmax(b, s);
  Shape os = ss;
  os.back() = dv;
  return b.node(fmt::format("matmul({}, {})", p.name, v.name), os, v.bound);
}

/// The mean cross-entropy of logits x [.., V] at labels, written out: a log-softmax (stable,
/// plain, or log of a softmax), the label's entry by gather or by a one-hot, optional label
/// smoothing (with weights that may not add up to 1), and a plain or masked mean.
Val crossEntropy(Builder &b, const Val &x) {
  if (x.shape.size() < 2 || x.bound > 20)
    return layerNorm(b, x);
  int64_t rank = static_cast<int64_t>(x.shape.size()), classes = last(x.shape);
  Shape ls = withoutLast(x.shape), r = ls;
  r.push_back(1);
  std::string ldt = b.r_.oneIn(3) ? "i32" : "i64";
  std::string labels = fmt::format("%labels{}", b.out_.labels.size());
  b.inputLine(fmt::format("  input data {}: {}{}", labels, ldt, shapeText(ls)));
  // Labels: mostly in range, sometimes -100 (PyTorch's ignore_index), V, -1 or the pad id.
  int64_t pad = std::array{0, 1, -100}[b.r_.below(3)];
  std::vector<double> &values = b.out_.labels[labels.substr(1)];
  int64_t n = boundedElements(ls, kMaxTensorElements);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c = b.options.labels_in_range ? 0 : b.r_.below(16);
    values.push_back(c < 12    ? static_cast<double>(b.r_.below(static_cast<uint32_t>(classes)))
                     : c == 12 ? -100.0
                     : c == 13 ? static_cast<double>(classes)
                     : c == 14 ? -1.0
                               : static_cast<double>(pad));
  }
  Val lp;
  switch (b.r_.below(3)) {
  case 0: { // (x - max) - log(sum(exp(x - max)))
    Val m =
        b.node(fmt::format("reduce_max({}) {{axes = [-1], keepdims = true}}", x.name), r, x.bound);
    Val z = b.node(fmt::format("sub({}, {})", x.name, m.name), x.shape, 2 * x.bound);
    Val e = b.node(fmt::format("exp({})", z.name), x.shape, 1);
    Val s = b.node(fmt::format("reduce_sum({}) {{axes = [-1], keepdims = true}}", e.name), r, 1);
    Val l = b.node(fmt::format("log({})", s.name), r, 1);
    lp = b.node(fmt::format("sub({}, {})", z.name, l.name), x.shape, 2 * x.bound + 1);
    break;
  }
  case 1: { // x - log(sum(exp(x)))
    Val e = b.node(fmt::format("exp({})", x.name), x.shape, std::exp(x.bound));
    Val s = b.node(fmt::format("reduce_sum({}) {{axes = [-1], keepdims = true}}", e.name), r, 1);
    Val l = b.node(fmt::format("log({})", s.name), r, 1);
    lp = b.node(fmt::format("sub({}, {})", x.name, l.name), x.shape, 2 * x.bound + 1);
    break;
  }
  default: // log(softmax(x))
    lp = b.node(fmt::format("log({})", softmax(b, x).name), x.shape, 2 * x.bound + 1);
  }
  Val picked;
  if (b.r_.oneIn(2)) {
    picked = b.node(fmt::format("gather({}, {}) {{axis = {}, batch_dims = {}}}", lp.name, labels,
                                b.r_.oneIn(2) ? -1 : rank - 1, rank - 1),
                    ls, lp.bound);
  } else {
    Shape io(static_cast<size_t>(rank), 1);
    io.back() = classes;
    std::string iota =
        b.raw(fmt::format("iota() {{axis = {}, shape = {}}}", rank - 1, listText(io)),
              "i64" + shapeText(io));
    std::string lab64 = labels;
    if (ldt == "i32")
      lab64 = b.raw(fmt::format("cast({}) {{dtype = i64}}", labels), "i64" + shapeText(ls));
    std::string col =
        b.raw(fmt::format("reshape({}) {{shape = {}}}", lab64, listText(r)), "i64" + shapeText(r));
    std::string eq = b.raw(fmt::format("eq({}, {})", iota, col), "bool" + shapeText(x.shape));
    Val oh = b.node(fmt::format("cast({}) {{dtype = {}}}", eq, b.dt), x.shape, 1);
    Val prod = b.node(fmt::format("mul({}, {})", oh.name, lp.name), x.shape, lp.bound);
    picked = b.node(fmt::format("reduce_sum({}) {{axes = [-1]}}", prod.name), ls, lp.bound);
  }
  Val per = b.node(fmt::format("neg({})", picked.name), ls, picked.bound);
  if (b.r_.oneIn(2)) {
    // The smoothing weights a and b = 1 - a + delta: a fusion may accept only delta = 0, up to
    // the rounding of the constants.
    double a = std::array{0.9, 0.8, 0.75}[b.r_.below(3)];
    double delta = std::array{0.0, 0.0, 1e-7, 1e-6, 1e-3}[b.r_.below(5)];
    Val mlp = b.node(fmt::format("reduce_mean({}) {{axes = [-1]}}", lp.name), ls, lp.bound);
    Val smooth = b.node(fmt::format("neg({})", mlp.name), ls, lp.bound);
    Val t1 = b.node(fmt::format("mul({}, {})", per.name, b.constant(a).name), ls, lp.bound);
    Val t2 = b.node(fmt::format("mul({}, {})", b.constant(1 - a + delta).name, smooth.name), ls,
                    lp.bound);
    per = b.node(fmt::format("add({}, {})", t1.name, t2.name), ls, lp.bound);
  }
  std::vector<int64_t> all;
  for (int64_t i = 0; i < rank - 1; ++i)
    all.push_back(i);
  if (b.r_.oneIn(2)) {
    b.loss = b.node(fmt::format("reduce_mean({}) {{axes = {}}}", per.name, listText(all)), {},
                    per.bound);
    return *b.loss;
  }
  // The masked mean over labels other than the pad id.
  std::string padc =
      b.raw(fmt::format("constant() {{dtype = {}, value = [{}.0]}}", ldt, pad), ldt + "[]");
  std::string ne = b.raw(fmt::format("ne({}, {})", labels, padc), "bool" + shapeText(ls));
  Val mask = b.node(fmt::format("cast({}) {{dtype = {}}}", ne, b.dt), ls, 1);
  Val pm = b.node(fmt::format("mul({}, {})", per.name, mask.name), ls, per.bound);
  Val num =
      b.node(fmt::format("reduce_sum({}) {{axes = {}}}", pm.name, listText(all)), {}, per.bound);
  Val den = b.node(fmt::format("reduce_sum({}) {{axes = {}}}", mask.name, listText(all)), {}, 1);
  b.loss = b.node(fmt::format("div({}, {})", num.name, den.name), {}, per.bound);
  return *b.loss;
}

// ---- the start: an op sample or fresh inputs --------------------------------------------------

/// The samples of the table, in table order.
std::vector<const OpSample *> allSamples() {
  std::vector<const OpSample *> out;
  for (const OpDef *op : allOps())
    for (const OpSample &s : op->samples)
      out.push_back(&s);
  return out;
}

} // namespace

GeneratedGraph generateGraph(ByteReader &r, const GeneratorOptions &options) {
  GeneratedGraph out;
  for (int i = 0; i < 8; ++i)
    out.seed = (out.seed << 8) | r.below(256);
  Builder b(r, out, options);
  b.dt = r.oneIn(4) ? "f64" : "f32";
  b.train = r.oneIn(2);
  std::vector<std::pair<std::string, std::string>> outputs;

  // An op sample: its inputs and node start the graph; a single float result of the
  // composition's dtype (f32 or f64) goes on into the composition.
  static const std::vector<const OpSample *> samples = allSamples();
  if (r.oneIn(3) && !samples.empty()) {
    const OpSample &s = *samples[r.below(static_cast<uint32_t>(samples.size()))];
    out.sample = s;
    auto g = test::sampleGraph(s);
    for (const std::string &in : s.inputs)
      b.inputLine("  input data " + in);
    size_t results = test::sampleResultCount(s);
    std::string name = "%sample";
    b.line(results > 1 ? fmt::format("  {}:{} = {}", name, results, s.node)
                       : fmt::format("  {} = {}", name, s.node));
    const TensorType &t = g->outputs()[0].value->type;
    if (results > 1 || (t.dtype != DType::f32 && t.dtype != DType::f64) ||
        boundedElements(t.shape, kMaxTensorElements) < 0 || r.oneIn(3)) {
      for (size_t i = 0; i < results; ++i)
        outputs.push_back(
            {fmt::format("out{}", i), results > 1 ? fmt::format("{}#{}", name, i) : name});
      out.text = b.text(outputs);
      return out;
    }
    b.dt = dtypeName(t.dtype);
    b.pool.push_back({name, t.shape, 10});
  } else {
    Shape s;
    for (int64_t rank = r.between(1, 3); rank > 0; --rank)
      s.push_back(r.between(1, 5));
    b.pool.push_back(b.input(r.oneIn(2) ? "param" : "data", "x", s));
  }

  // The composition: each step reads the latest value (and maybe others) and adds a few
  // nodes; a cross-entropy ends it with the scalar loss.
  Val cur = b.pool.back();
  for (int64_t steps = r.between(1, 6); steps > 0; --steps) {
    switch (r.below(8)) {
    case 0:
      cur = unary(b, cur);
      break;
    case 1:
      cur = binary(b, cur);
      break;
    case 2:
      cur = reduction(b, cur);
      break;
    case 3:
      cur = matmul(b, cur);
      break;
    case 4:
      cur = softmax(b, cur);
      break;
    case 5:
      cur = layerNorm(b, cur);
      break;
    case 6:
      cur = attention(b, cur);
      break;
    default:
      cur = crossEntropy(b, cur);
    }
    // Tame magnitudes that would make honest f32 backends differ by more than rounding.
    if (cur.bound > 1e3 && !b.loss)
      cur = b.node(fmt::format("tanh({})", cur.name), cur.shape, 1);
    b.pool.push_back(cur);
    if (b.loss)
      break;
  }
  if (b.train && b.params == 0) {
    Val w = b.input("param", "p", cur.shape.empty() ? Shape{} : Shape{last(cur.shape)});
    cur = b.node(fmt::format("mul({}, {})", cur.name, w.name), cur.shape, cur.bound);
    if (b.loss)
      b.loss = cur;
  }
  if (b.train && !b.loss) {
    std::vector<int64_t> all;
    for (size_t i = 0; i < cur.shape.size(); ++i)
      all.push_back(static_cast<int64_t>(i));
    b.loss = cur.shape.empty()
                 ? cur
                 : b.node(fmt::format("reduce_mean({}) {{axes = {}}}", cur.name, listText(all)), {},
                          cur.bound);
  }
  if (b.loss) {
    outputs.push_back({"loss", b.loss->name});
    if (b.loss->name != cur.name)
      outputs.push_back({"out", cur.name});
  } else {
    outputs.push_back({"out", cur.name});
  }
  // Sometimes an intermediate value too, which keeps it alive through the fusions.
  if (b.pool.size() > 2 && r.oneIn(3)) {
    const Val &aux = b.pool[r.below(static_cast<uint32_t>(b.pool.size() - 1))];
    if (aux.name != cur.name && (!b.loss || aux.name != b.loss->name))
      outputs.push_back({"aux", aux.name});
  }
  out.trainable = b.train && b.loss && b.params > 0;
  out.text = b.text(outputs);
  return out;
}

} // namespace kiln::fuzz
