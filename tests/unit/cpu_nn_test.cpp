// The CPU backend's lowerings of the indexing ops, the loss, layer_norm_grad and attention
// against the reference interpreter: shapes, batch_dims, masks, causal, dropout, ignore_index,
// label smoothing, the traps of out-of-range indices and labels, and the tiny Transformer's
// loss and train step with no fallback node.

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernel_choice.h"
#include "backend/kernel/lower.h"
#include "backend/reference/reference_backend.h"
#include "compiler/programs.h"
#include "frontend/init.h"
#include "ir/parser.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Random elements: floats in [-2, 2), integers in [0, bound), bools 0 or 1.
Literal randomLiteral(const TensorType &t, std::mt19937 &rng, int64_t bound = 2) {
  Literal l(t);
  std::uniform_real_distribution<double> real(-2, 2);
  std::uniform_int_distribution<int64_t> integer(0, std::max<int64_t>(bound - 1, 0)), coin(0, 1);
  for (double &v : l.data)
    v = isFloat(t.dtype)            ? real(rng)
        : t.dtype == DType::boolean ? static_cast<double>(coin(rng))
                                    : static_cast<double>(integer(rng));
  l.roundToDType();
  return l;
}

/// Runs a graph on the CPU backend and on the reference interpreter; floats agree within
/// tol * (1 + |reference|), everything else exactly.
void compareWithReference(const Graph &g, const std::vector<Literal> &inputs, double tol,
                          CpuKernels kernels = CpuKernels::Auto) {
  std::vector<Literal> want = reference::run(g, inputs);
  CompileOptions options;
  options.cpu_kernels = kernels;
  std::vector<Literal> got = runOn(cpuBackend(), g, inputs, options);
  REQUIRE(got.size() == want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    const Literal &have = got[o];
    REQUIRE(have.type == want[o].type);
    int64_t bad = 0;
    for (int64_t i = 0; i < have.size(); ++i) {
      double a = have.data[i], b = want[o].data[i];
      bool ok = std::isnan(b) ? std::isnan(a)
                : !isFloat(have.type.dtype) || std::isinf(b)
                    ? a == b
                    : std::abs(a - b) <= tol * (1 + std::abs(b));
      if (!ok && ++bad <= 4)
        FAIL_CHECK("output " << o << " element " << i << ": cpu " << a << ", reference " << b);
    }
    CHECK(bad == 0);
  }
}

/// Checks one op on random inputs; integer inputs lie in [0, bound).
void checkOp(OpHandle op, const std::vector<TensorType> &types, AttrMap attrs = {},
             int64_t bound = 2, double tol = 2e-5, uint32_t seed = 42,
             CpuKernels kernels = CpuKernels::Auto) {
  INFO(op.name);
  auto g = oneOp(op, types, std::move(attrs));
  CHECK(cpuBackend().supports(*g->nodes()[0]));
  std::mt19937 rng(seed);
  std::vector<Literal> inputs;
  for (const TensorType &t : types)
    inputs.push_back(randomLiteral(t, rng, bound));
  compareWithReference(*g, inputs, tol, kernels);
}

TensorType f32(Shape s) { return {DType::f32, std::move(s)}; }
TensorType i64(Shape s) { return {DType::i64, std::move(s)}; }

/// The reference kernel's error message for these inputs (which must be bad).
std::string referenceError(const Graph &g, const std::vector<Literal> &inputs) {
  try {
    reference::run(g, inputs);
  } catch (const Error &e) {
    return e.what();
  }
  FAIL("the reference accepted the inputs");
  return {};
}

/// The CPU backend raises the reference's Error for bad inputs, and the same executable then
/// runs good inputs correctly: a trap leaves nothing behind.
void checkTrap(const Graph &g, std::vector<Literal> bad, const std::vector<Literal> &good,
               std::string_view expected) {
  std::string want = referenceError(g, bad);
  CHECK(want.find(expected) != std::string::npos);
  auto exe = cpuBackend().compile(g, {});
  CHECK(stat(*exe, "fallback nodes") == 0);
  std::vector<HostBuffer> bad_args, good_args;
  for (const Literal &l : bad)
    bad_args.push_back(toBuffer(l));
  for (const Literal &l : good)
    good_args.push_back(toBuffer(l));
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string got;
    try {
      exe->run(bad_args);
    } catch (const Error &e) {
      got = e.what();
    }
    CHECK(got == want);
  }
  std::vector<Literal> ref = reference::run(g, good);
  std::vector<HostBuffer> out = exe->run(good_args);
  REQUIRE(out.size() == ref.size());
  for (size_t o = 0; o < ref.size(); ++o) {
    Literal have = toLiteral(out[o]);
    for (int64_t i = 0; i < ref[o].size(); ++i)
      CHECK(have.data[i] == doctest::Approx(ref[o].data[i]).epsilon(1e-5));
  }
}

} // namespace

TEST_CASE("cpu nn: gather and scatter_add with axes and batch_dims") {
  struct Case {
    Shape data, indices;
    int64_t axis, batch_dims;
  };
  std::vector<Case> cases = {{{10, 6}, {2, 3}, 0, 0},      {{3, 5, 4}, {2, 2}, 1, 0},
                             {{2, 4}, {2}, 1, 1},          {{2, 3, 4, 5}, {2, 3}, 2, 1},
                             {{2, 3, 4}, {2, 3, 6}, 2, 2}, {{4, 3}, {}, 0, 0},
                             {{5, 7}, {3, 40}, -1, 0},     {{3, 0, 2}, {4}, 0, 0}};
  for (const Case &c : cases) {
    INFO("data " << shapeStr(c.data) << " indices " << shapeStr(c.indices) << " axis " << c.axis
                 << " batch_dims " << c.batch_dims);
    AttrMap attrs = {{"axis", c.axis}, {"batch_dims", c.batch_dims}};
    int64_t bound = c.data[*normalizeAxis(c.axis, static_cast<int64_t>(c.data.size()))];
    for (DType it : {DType::i64, DType::i32}) {
      TensorType idx{it, c.indices};
      for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::i64, DType::boolean})
        checkOp(op::Gather, {TensorType{dt, c.data}, idx}, attrs, bound, 0.0);
      auto g = oneOp(op::Gather, {f32(c.data), idx}, attrs);
      Shape gathered = g->nodes()[0]->result()->type.shape;
      for (DType dt : {DType::f32, DType::f64})
        checkOp(op::ScatterAdd, {TensorType{dt, c.data}, idx, TensorType{dt, gathered}}, attrs,
                bound, 1e-6);
    }
  }
  // Integer sums saturate once in the reference: they fall back.
  auto ints = oneOp(op::ScatterAdd, {i64({4}), i64({3}), i64({3})});
  CHECK(!cpuBackend().supports(*ints->nodes()[0]));
  // A gather big enough to split over threads.
  checkOp(op::Gather, {f32({1000, 64}), i64({16, 64})}, {}, 1000, 0.0);
}

TEST_CASE("cpu nn: out-of-range indices raise the reference's error, and the first one") {
  Literal table = lit({10, 3}, std::vector<double>(30, 0.5));
  auto gather = oneOp(op::Gather, {table.type, i64({6})});
  Literal good = lit({6}, {0, 9, 3, 3, 1, 2}, DType::i64);
  checkTrap(*gather, {table, lit({6}, {3, 0, 12, -1, 10, 2}, DType::i64)}, {table, good},
            "gather: index 12 is out of range [0, 10) along axis 0");
  checkTrap(*gather, {table, lit({6}, {0, 0, 0, 0, 0, -4}, DType::i64)}, {table, good},
            "index -4 is out of range");

  // batch_dims: the position counts in the indices, the bound is the gathered axis.
  AttrMap attrs = {{"axis", int64_t{1}}, {"batch_dims", int64_t{1}}};
  TensorType data = f32({2, 4}), idx{DType::i32, {2, 3}};
  Literal d = lit({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Literal ok = lit({2, 3}, {0, 1, 3, 3, 2, 1}, DType::i32);
  checkTrap(*oneOp(op::Gather, {data, idx}, attrs),
            {d, lit({2, 3}, {0, 1, 3, 3, 4, 1}, DType::i32)}, {d, ok},
            "gather: index 4 is out of range [0, 4) along axis 1");
  auto scatter = oneOp(op::ScatterAdd, {data, idx, f32({2, 3})}, attrs);
  Literal upd = lit({2, 3}, {1, 1, 1, 1, 1, 1});
  checkTrap(*scatter, {d, lit({2, 3}, {0, -1, 3, 7, 4, 1}, DType::i32), upd}, {d, ok, upd},
            "scatter_add: index -1 is out of range [0, 4) along axis 1");

  // Many bad indices across threads: the smallest position wins, as in the reference.
  TensorType big = i64({64, 512});
  std::mt19937 rng(7);
  Literal ids = randomLiteral(big, rng, 1000), fine = ids;
  ids.data[20000] = 1000, ids.data[7777] = 5000, ids.data[30000] = -3;
  Literal emb = randomLiteral(f32({1000, 8}), rng);
  checkTrap(*oneOp(op::Gather, {emb.type, big}), {emb, ids}, {emb, fine}, "index 5000");
}

TEST_CASE("cpu nn: softmax_cross_entropy and its gradient with ignore_index and smoothing") {
  struct Case {
    Shape logits;
    int64_t ignore;
    double smoothing;
  };
  std::vector<Case> cases = {{{4, 5}, -100, 0.0}, {{4, 5}, -100, 0.1}, {{2, 3, 7}, 0, 0.0},
                             {{2, 3, 7}, 0, 0.1}, {{6, 11}, 3, 0.2},   {{1, 1000}, -100, 0.1},
                             {{37, 64}, 1, 0.1}};
  for (const Case &c : cases) {
    INFO("logits " << shapeStr(c.logits) << " ignore " << c.ignore << " smoothing " << c.smoothing);
    AttrMap attrs = {{"ignore_index", c.ignore}, {"label_smoothing", c.smoothing}};
    Shape labels(c.logits.begin(), c.logits.end() - 1);
    for (DType lt : {DType::i64, DType::i32})
      for (DType dt : {DType::f32, DType::f64}) {
        double tol = dt == DType::f32 ? 2e-5 : 1e-10;
        TensorType x{dt, c.logits}, y{lt, labels}, g{dt, {}};
        checkOp(op::SoftmaxCrossEntropy, {x, y}, attrs, c.logits.back(), tol);
        checkOp(op::SoftmaxCrossEntropyGrad, {x, y, g}, attrs, c.logits.back(), tol);
      }
  }
  // Every label ignored: 0 / 0, NaN, as in the reference.
  auto g = oneOp(op::SoftmaxCrossEntropy, {f32({2, 3}), i64({2})}, {{"ignore_index", int64_t{1}}});
  compareWithReference(*g, {lit({2, 3}, {1, 2, 3, 4, 5, 6}), lit({2}, {1, 1}, DType::i64)}, 0);
}

TEST_CASE("cpu nn: labels out of range raise the reference's error, ignored labels do not") {
  Literal x = lit({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Literal good = lit({3}, {0, 3, -100}, DType::i64);
  Literal bad = lit({3}, {-100, 4, -7}, DType::i64);
  Literal g = Literal::scalar(1.5, DType::f32);
  checkTrap(*oneOp(op::SoftmaxCrossEntropy, {x.type, good.type}), {x, bad}, {x, good},
            "softmax_cross_entropy: label 4 is out of range [0, 4)");
  checkTrap(*oneOp(op::SoftmaxCrossEntropyGrad, {x.type, good.type, g.type}), {x, bad, g},
            {x, good, g}, "softmax_cross_entropy_grad: label 4 is out of range [0, 4)");
}

TEST_CASE("cpu nn: layer_norm_grad with and without a weight") {
  for (DType dt : {DType::f32, DType::f64}) {
    double tol = dt == DType::f32 ? 2e-5 : 1e-10;
    TensorType x{dt, {3, 4, 17}};
    for (int64_t axis : {-1, 1}) {
      INFO(dtypeName(dt) << " axis " << axis);
      Shape normalized(x.shape.begin() + (axis < 0 ? 2 : axis), x.shape.end());
      TensorType w{dt, normalized};
      AttrMap attrs = {{"axis", axis}, {"eps", 1e-5}};
      checkOp(op::LayerNormGrad, {x, w, x}, attrs, 2, tol);
      checkOp(op::LayerNormGrad, {x, x}, attrs, 2, tol);
    }
    checkOp(op::LayerNormGrad,
            {TensorType{dt, {256, 64}}, TensorType{dt, {64}}, TensorType{dt, {256, 64}}}, {}, 2,
            tol);
  }
}

TEST_CASE("cpu nn: attention and attention_grad with masks, causal, scale and dropout") {
  struct Case {
    Shape q, k, v;
    std::optional<TensorType> mask;
    bool causal;
    double dropout;
  };
  std::vector<Case> cases = {
      {{2, 3, 4}, {2, 5, 4}, {2, 5, 2}, std::nullopt, false, 0.0},
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}, std::nullopt, true, 0.0},
      {{2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}, f32({2, 1, 1, 5}), false, 0.0},
      {{2, 4, 8}, {2, 4, 8}, {2, 4, 8}, TensorType{DType::boolean, {4, 4}}, true, 0.0},
      {{2, 3, 4}, {2, 5, 4}, {2, 5, 2}, std::nullopt, false, 0.3},
      {{2, 2, 6, 4}, {2, 2, 6, 4}, {2, 2, 6, 4}, f32({2, 1, 1, 6}), true, 0.1},
      {{1, 7}, {9, 7}, {9, 3}, TensorType{DType::boolean, {1, 9}}, false, 0.5},
      {{3, 4, 16, 16}, {3, 4, 16, 16}, {3, 4, 16, 16}, f32({16, 16}), true, 0.1},
      // Lengths beyond the kernels' tiles (32 query rows, 64 keys), multiples of them or not.
      {{2, 70, 8}, {2, 130, 8}, {2, 130, 5}, f32({70, 130}), true, 0.2},
      {{2, 100, 8}, {2, 40, 8}, {2, 40, 8}, std::nullopt, true, 0.1},
      {{1, 2, 100, 16},
       {1, 2, 100, 16},
       {1, 2, 100, 16},
       TensorType{DType::boolean, {100, 100}},
       false,
       0.0},
      {{1, 64, 4}, {1, 128, 4}, {1, 128, 4}, std::nullopt, true, 0.0}};
  for (const Case &c : cases)
    for (DType dt : {DType::f32, DType::f64}) {
      INFO("q " << shapeStr(c.q) << " k " << shapeStr(c.k) << " mask "
                << (c.mask ? c.mask->str() : "none") << " causal " << c.causal << " dropout "
                << c.dropout << " " << dtypeName(dt));
      std::vector<TensorType> types = {{dt, c.q}, {dt, c.k}, {dt, c.v}};
      if (c.mask)
        types.push_back(c.mask->dtype == DType::boolean ? *c.mask : TensorType{dt, c.mask->shape});
      if (c.dropout > 0)
        types.push_back(philoxKeyType());
      AttrMap attrs = {{"causal", c.causal},
                       {"scale", 0.5},
                       {"dropout", c.dropout},
                       {"dropout_offset", int64_t{c.dropout > 0 ? 17 : 0}}};
      double tol = dt == DType::f32 ? 2e-5 : 1e-10;
      // Bool masks hide about half the keys; with causal, key 0 stays visible only by chance,
      // so fully hidden rows (NaN in both) are compared too.
      // jit runs the tiled kernels, onednn the GEMMs and softmax written out, auto chooses.
      auto g = oneOp(op::Attention, types, attrs);
      std::vector<TensorType> grad_types = types;
      grad_types.push_back(g->nodes()[0]->result()->type);
      for (CpuKernels kernels : {CpuKernels::Jit, CpuKernels::OneDnn, CpuKernels::Auto}) {
        std::string path = kernels == CpuKernels::Jit      ? "jit"
                           : kernels == CpuKernels::OneDnn ? "onednn"
                                                           : "auto";
        INFO("--cpu-kernels=" << path);
        checkOp(op::Attention, types, attrs, 1000, tol, 42, kernels);
        checkOp(op::AttentionGrad, grad_types, attrs, 1000, tol, 42, kernels);
      }
    }
}

TEST_CASE("cpu nn: tiled attention's edges: no keys, a row the mask hides wholly under causal") {
  for (CpuKernels kernels : {CpuKernels::Jit, CpuKernels::OneDnn}) {
    std::string path = kernels == CpuKernels::Jit ? "jit" : "onednn";
    INFO("--cpu-kernels=" << path);
    // No keys: the reference averages nothing to 0.
    checkOp(op::Attention, {f32({1, 3, 4}), f32({1, 0, 4}), f32({1, 0, 2})}, {{"scale", 0.5}}, 2,
            2e-5, 42, kernels);
    // Row 0 hidden: its NaN probabilities reach every key's dv, across the tiles causal would
    // skip; its hidden scores give dq and dk nothing.
    TensorType mask{DType::boolean, {40, 70}};
    std::vector<TensorType> types = {f32({1, 40, 4}), f32({1, 70, 4}), f32({1, 70, 4}), mask,
                                     f32({1, 40, 4})};
    AttrMap attrs = {{"causal", true}, {"scale", 0.5}};
    auto g = oneOp(op::AttentionGrad, types, attrs);
    std::mt19937 rng(5);
    std::vector<Literal> inputs;
    for (const TensorType &t : types)
      inputs.push_back(randomLiteral(t, rng));
    for (int64_t j = 0; j < 70; ++j)
      inputs[3].data[j] = 1;
    for (int64_t i = 70; i < inputs[3].size(); ++i)
      inputs[3].data[i] = 0;
    compareWithReference(*g, inputs, 2e-5, kernels);
  }
}

namespace {

/// Seeded inputs of a Transformer program: token ids in [4, 40) with PAD tails, step 1, seed
/// 17, initial parameters and zero optimizer state.
std::vector<Literal> programInputs(const BuiltModel &m) {
  std::vector<Literal> params = initialValues(m.params, 3);
  std::map<std::string, const Literal *> by_name;
  for (size_t i = 0; i < params.size(); ++i)
    by_name[m.params[i].name] = &params[i];
  std::vector<Literal> inputs;
  for (const GraphInput &in : m.graph->inputs()) {
    Literal l(in.value->type);
    if (in.role == InputRole::Source || in.role == InputRole::Target) {
      int64_t len = l.shape().back();
      for (int64_t i = 0; i < l.size(); ++i)
        l.data[i] = i % len >= len - 1 - (i / len) % 2
                        ? 0
                        : 4 + static_cast<double>((i * 7 + (in.role == InputRole::Target)) % 36);
    } else if (in.role == InputRole::Step) {
      l.data[0] = 1;
    } else if (in.role == InputRole::Seed) {
      l = keyLiteral(17);
    } else if (auto it = by_name.find(in.name); it != by_name.end()) {
      l = *it->second;
    }
    inputs.push_back(std::move(l));
  }
  return inputs;
}

/// The largest differences of cpu from reference over a class of outputs.
struct Difference {
  double abs = 0, rel = 0; ///< rel: |cpu - reference| / max |reference| of the output
  int outputs = 0;
};

/// Runs a program on both backends; returns the differences by output class (the name up to
/// its first '.', or the name itself).
std::map<std::string, Difference> compareBackends(const BuiltModel &m, CpuKernels kernels) {
  std::vector<Literal> inputs = programInputs(m);
  std::vector<HostBuffer> args;
  for (const Literal &l : inputs)
    args.push_back(toBuffer(l));
  auto cpu = cpuBackend().compile(*m.graph, {.cpu_kernels = kernels});
  // The graph the backend runs: attention written out adds its GEMMs and softmax.
  std::unique_ptr<Graph> run = m.graph->clone();
  int64_t expanded = cpu::expandChosenAttention(*run, kernels), chosen = 0, matmuls = 0;
  CHECK((kernels == CpuKernels::Jit ? expanded == 0 : expanded > 0));
  CHECK(stat(*cpu, "attention written out as gemms") == expanded);
  for (const auto &n : run->nodes()) {
    chosen += cpu::chooseKernelPath(*n, kernels) == cpu::KernelPath::OneDnn;
    matmuls += n->is(op::Matmul);
  }
  // Every node the rule sends to oneDNN gets its primitive (every matmul of the Transformer,
  // in f32, among them), and none on the JIT path.
  CHECK(stat(*cpu, "onednn primitives") == chosen);
  CHECK((kernels == CpuKernels::Jit ? chosen == 0 : chosen > matmuls));
  std::string fallbacks;
  for (const auto &[key, value] : cpu->statistics())
    if (key.starts_with("fallback "))
      fallbacks += key + " " + std::to_string(value) + "; ";
  INFO(fallbacks);
  CHECK(stat(*cpu, "fallback nodes") == 0);
  auto ref = referenceBackend().compile(*m.graph, {});
  std::vector<HostBuffer> got = cpu->run(args), want = ref->run(args);
  REQUIRE(got.size() == want.size());
  std::map<std::string, Difference> diffs;
  const Signature &sig = cpu->signature();
  for (size_t o = 0; o < got.size(); ++o) {
    const std::string &name = sig.outputs[o].name;
    Literal a = toLiteral(got[o]), b = toLiteral(want[o]);
    double scale = 0, worst = 0;
    bool finite = true;
    for (int64_t i = 0; i < b.size(); ++i) {
      scale = std::max(scale, std::abs(b.data[i]));
      worst = std::max(worst, std::abs(a.data[i] - b.data[i]));
      finite &= std::isfinite(a.data[i]);
    }
    CHECK(finite);
    std::string cls = name.substr(0, name.find('.'));
    if (sig.outputs[o].updates && cls != "adam")
      cls = "params";
    Difference &d = diffs[cls];
    d.abs = std::max(d.abs, worst);
    d.rel = std::max(d.rel, scale > 0 ? worst / scale : worst);
    ++d.outputs;
  }
  return diffs;
}

} // namespace

TEST_CASE("cpu nn: the tiny Transformer's loss and train step run without fallbacks and match "
          "the reference") {
  TransformerConfig cfg = presetConfig("tiny");
  cfg.label_smoothing = 0.1;
  GraphOptions shape{.batch = 2, .src_len = 5, .tgt_len = 5, .dropout = 0.1};
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  // The reference computes each op in double and rounds to f32; the cpu backend computes in
  // f32 throughout. Loss and gradients then agree to a few f32 roundings of sums of up to 1000
  // terms, relative to each tensor's scale. Adam's first step moves every parameter with a
  // non-zero gradient by about lr (1.9e-7 here) whatever the gradient's size, so a gradient
  // within rounding of zero may move its parameter the other way: parameters agree within
  // 2 lr, absolutely.
  // The count of targets whose logit is their row's largest is exact: at this seed no two
  // logits of a row come within rounding of each other.
  std::map<std::string, double> rel_tolerance = {{"loss", 1e-5}, {"logits", 1e-5}, {"grad", 1e-4},
                                                 {"adam", 1e-4}, {"lr", 1e-6},     {"correct", 0}};
  const double params_abs_tolerance = 4e-7;
  for (std::string program : {"loss", "gradients", "train step"})
    for (CpuKernels kernels : {CpuKernels::Auto, CpuKernels::Jit}) {
      INFO(program << " --cpu-kernels=" << cpuKernelsName(kernels));
      BuiltModel m = program == "loss"        ? buildLoss(cfg, shape)
                     : program == "gradients" ? buildGradients(cfg, shape)
                                              : buildTrainStep(cfg, shape, opt);
      for (const auto &[cls, d] : compareBackends(m, kernels)) {
        MESSAGE(program << " --cpu-kernels=" << cpuKernelsName(kernels) << ", " << cls << " ("
                        << d.outputs << " outputs): max abs difference " << d.abs
                        << ", max relative to the output's scale " << d.rel);
        if (cls == "params") {
          CHECK(d.abs <= params_abs_tolerance);
        } else {
          REQUIRE(rel_tolerance.count(cls));
          CHECK(d.rel <= rel_tolerance.at(cls));
        }
      }
    }
}

TEST_CASE("the train step's output 'correct' counts the targets other than PAD whose logit is "
          "their row's largest") {
  // Checked against the loss program's logits, counted here: same weights and tokens, no
  // dropout. Eight ids, four of them tokens, so that random weights get some right.
  TransformerConfig cfg = presetConfig("tiny");
  cfg.vocab = 8;
  GraphOptions shape{.batch = 4, .src_len = 6, .tgt_len = 6, .dropout = 0};
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  BuiltModel loss = buildLoss(cfg, shape), step = buildTrainStep(cfg, shape, opt);
  auto run = [](const BuiltModel &m) {
    std::vector<Literal> params = initialValues(m.params, 5);
    std::map<std::string, Literal> named, out;
    for (size_t i = 0; i < params.size(); ++i)
      named.emplace(m.params[i].name, params[i]);
    std::vector<HostBuffer> args;
    for (const GraphInput &in : m.graph->inputs()) {
      Literal l(in.value->type);
      if (in.role == InputRole::Source || in.role == InputRole::Target)
        for (int64_t i = 0; i < l.size(); ++i) // a PAD tail of 1 or 2 in each row
          l.data[i] = i % 6 >= 5 - (i / 6) % 2 ? 0 : 4 + static_cast<double>((i * 5) % 4);
      else if (in.role == InputRole::Step)
        l.data[0] = 1;
      else if (auto it = named.find(in.name); it != named.end())
        l = it->second;
      args.push_back(toBuffer(l));
    }
    auto program = referenceBackend().compile(*m.graph, {});
    std::vector<HostBuffer> got = program->run(args);
    for (size_t o = 0; o < got.size(); ++o)
      out.emplace(program->signature().outputs[o].name, toLiteral(got[o]));
    return out;
  };
  std::map<std::string, Literal> forward = run(loss), trained = run(step);
  const Literal &logits = forward.at("logits");
  int64_t tokens = 0, want = 0;
  for (int64_t i = 0; i < 4 * 6; ++i) {
    int64_t label = i % 6 >= 5 - (i / 6) % 2 ? 0 : 4 + (i * 5) % 4;
    if (label == cfg.tokens.pad)
      continue;
    ++tokens;
    const double *row = logits.data.data() + i * cfg.vocab;
    want += row[label] >= *std::max_element(row, row + cfg.vocab);
  }
  MESSAGE(want << " of " << tokens << " targets have their row's largest logit");
  CHECK(want > 0);
  CHECK(want < tokens);
  CHECK(trained.at("correct").data[0] == static_cast<double>(want));
}

TEST_CASE("cpu kernel choice: attention is written out within the bound, and beyond it where the "
          "fused kernel would fall back") {
  // 260 x 300 x 300 probabilities take 94 MB, beyond the 64 MiB bound, and the tiled kernels
  // need little local memory; with 4100-wide heads, the forward kernel's output rows would not
  // fit a worker's stack.
  auto g = kiln::parseGraph(R"(graph @long {
  input data %q: f32[260,300,8]
  input data %g: f32[260,300,8]
  input data %s: f32[2,16,8]
  input data %w: f32[220,300,4100]
  input data %h: bf16[260,300,8]
  %0 = attention(%q, %q, %q) {scale = 0.35} : f32[260,300,8]
  %1:3 = attention_grad(%q, %q, %q, %g) {scale = 0.35} : f32[260,300,8], f32[260,300,8], f32[260,300,8]
  %2 = attention(%s, %s, %s) {scale = 0.35} : f32[2,16,8]
  %3 = attention(%w, %w, %w) {scale = 0.35} : f32[220,300,4100]
  output "y" = %0
  output "dq" = %1#0
  output "z" = %2
  %4 = attention(%h, %h, %h) {scale = 0.35} : bf16[260,300,8]
  output "wide" = %3
  output "bf16" = %4
})",
                            "long.kir");
  const Node &forward = *g->nodes()[0];
  const Node &backward = *g->nodes()[1];
  const Node &small = *g->nodes()[2];
  const Node &wide = *g->nodes()[3];
  REQUIRE(kernel::hasLowering(forward));
  REQUIRE(kernel::hasLowering(backward));
  REQUIRE(!kernel::hasLowering(wide));
  CHECK(!cpu::expandsAttention(forward, CpuKernels::Auto));
  CHECK(!cpu::expandsAttention(backward, CpuKernels::Auto));
  CHECK(cpu::expandsAttention(small, CpuKernels::Auto));
  CHECK(cpu::expandsAttention(wide, CpuKernels::Auto));
  // Written out, bf16 attention's probabilities are f32: the same bound.
  CHECK(!cpu::expandsAttention(*g->nodes()[4], CpuKernels::Auto));
  for (const Node *n : {&forward, &backward, &small, &wide}) {
    CHECK(cpu::expandsAttention(*n, CpuKernels::OneDnn));
    CHECK(!cpu::expandsAttention(*n, CpuKernels::Jit));
  }
}
