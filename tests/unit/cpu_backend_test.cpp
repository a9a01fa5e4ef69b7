// The CPU backend against the reference interpreter: every lowered op family on small graphs
// with random inputs, broadcasting, dtypes, the JIT's vector code and the fallbacks.

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/jit.h"
#include "backend/cpu/onednn/onednn.h"
#include "backend/kernel/lower.h"
#include "ir/parser.h"
#include "test_util.h"

#include <cmath>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Random elements: floats in [lo, hi), integers in [-9, 9], bools 0 or 1.
Literal randomLiteral(const TensorType &t, std::mt19937 &rng, double lo = -2, double hi = 2) {
  Literal l(t);
  std::uniform_real_distribution<double> real(lo, hi);
  std::uniform_int_distribution<int> integer(-9, 9), coin(0, 1);
  for (double &v : l.data)
    v = isFloat(t.dtype) ? real(rng) : t.dtype == DType::boolean ? coin(rng) : integer(rng);
  l.roundToDType();
  return l;
}

/// Runs a graph on the CPU backend and on the reference interpreter and compares outputs:
/// integers and bools exactly, floats within a relative tolerance.
void compareWithReference(const Graph &g, const std::vector<Literal> &inputs, double tol = 1e-5,
                          int threads = 0) {
  std::vector<Literal> want = reference::run(g, inputs);
  std::vector<Literal> got = runOn(cpuBackend(), g, inputs, CompileOptions{.threads = threads});
  REQUIRE(got.size() == want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    const Literal &have = got[o];
    REQUIRE(have.type == want[o].type);
    for (int64_t i = 0; i < have.size(); ++i) {
      double a = have.data[i], b = want[o].data[i];
      INFO("output " << o << " element " << i << ": cpu " << a << ", reference " << b);
      if (std::isnan(b))
        CHECK(std::isnan(a));
      else if (!isFloat(have.type.dtype) || std::isinf(b))
        CHECK(a == b);
      else
        CHECK(std::abs(a - b) <= tol * (1 + std::abs(b)));
    }
  }
}

/// Checks one op on random inputs of the given types.
void checkOp(OpHandle op, const std::vector<TensorType> &types, AttrMap attrs = {}, double lo = -2,
             double hi = 2, double tol = 1e-5) {
  INFO(op);
  auto g = oneOp(op, types, std::move(attrs));
  CHECK(cpuBackend().supports(*g->nodes()[0]));
  std::mt19937 rng(42);
  std::vector<Literal> inputs;
  for (const TensorType &t : types)
    inputs.push_back(randomLiteral(t, rng, lo, hi));
  compareWithReference(*g, inputs, tol);
}

TensorType f32(Shape s) { return {DType::f32, std::move(s)}; }

} // namespace

TEST_CASE("cpu: unary ops match the reference in f32 and f64") {
  for (DType dt : {DType::f32, DType::f64}) {
    TensorType t{dt, {3, 37}};
    for (OpHandle op : {op::Neg, op::Abs, op::Exp, op::Tanh, op::Relu, op::Sigmoid})
      checkOp(op, {t});
    for (OpHandle op : {op::Log, op::Sqrt, op::Rsqrt})
      checkOp(op, {t}, {}, 0.05, 4);
    checkOp(op::Gelu, {t});
    checkOp(op::Gelu, {t}, {{"approximate", std::string("tanh")}});
    checkOp(op::GeluGrad, {t, t});
    checkOp(op::GeluGrad, {t, t}, {{"approximate", std::string("tanh")}});
  }
  checkOp(op::Not, {TensorType{DType::boolean, {17}}});
  // The f32 exp is inlined code: its edges and its whole range.
  Literal edges =
      lit({11}, {NAN, INFINITY, -INFINITY, 0, -0.0, 88.72, 88.73, -87.3, -103.9, -120, 1e-8});
  compareWithReference(*oneOp(op::Exp, {edges.type}), {edges});
  checkOp(op::Exp, {f32({1000})}, {}, -87, 88, 2e-7);
}

TEST_CASE("cpu: binary ops broadcast like numpy") {
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 8}, {4, 8}}, {{4, 8}, {8}}, {{4, 1}, {1, 8}}, {{2, 3, 4}, {3, 1}},
      {{}, {5}},        {{0, 3}, {3}}, {{2, 1, 3}, {}},  {{1, 5}, {7, 1, 5}}};
  for (const auto &[a, b] : shapes) {
    INFO(shapeStr(a) << " with " << shapeStr(b));
    for (OpHandle op : {op::Add, op::Sub, op::Mul, op::Div, op::Max, op::Min})
      checkOp(op, {f32(a), f32(b)});
    checkOp(op::Pow, {f32(a), f32(b)}, {}, 0.1, 3);
    for (OpHandle op : {op::Eq, op::Ne, op::Lt, op::Le, op::Gt, op::Ge})
      checkOp(op, {f32(a), f32(b)}, {}, -2, 2);
  }
  TensorType p{DType::boolean, {3, 4}}, q{DType::boolean, {4}};
  checkOp(op::And, {p, q});
  checkOp(op::Or, {p, q});
  checkOp(op::Select, {TensorType{DType::boolean, {3, 1}}, f32({3, 4}), f32({4})});
}

TEST_CASE("cpu: integer arithmetic saturates and divides as the reference") {
  for (DType dt : {DType::i32, DType::i64}) {
    TensorType t{dt, {2, 9}};
    for (OpHandle op : {op::Add, op::Sub, op::Mul, op::Div, op::Max, op::Min, op::Lt, op::Eq})
      checkOp(op, {t, t});
    for (OpHandle op : {op::Neg, op::Abs, op::Relu})
      checkOp(op, {t});
  }
  // Overflow, division by zero and the most negative value.
  double big = 2147483647, small = -2147483648;
  Literal a = lit({6}, {big, small, 7, -7, 0, small}, DType::i32);
  Literal b = lit({6}, {1, -1, 0, 0, 0, -1}, DType::i32);
  TensorType t{DType::i32, {6}};
  for (OpHandle op : {op::Add, op::Sub, op::Mul, op::Div}) {
    INFO(op);
    compareWithReference(*oneOp(op, {t, t}), {a, b});
  }
  compareWithReference(*oneOp(op::Neg, {t}), {a});
  compareWithReference(*oneOp(op::Abs, {t}), {a});
}

TEST_CASE("cpu: casts follow the reference's rules") {
  Literal special =
      lit({10}, {1.7, -1.7, 0, -0.0, NAN, INFINITY, -INFINITY, 3e9, -3e9, 1e20}, DType::f64);
  for (DType to : {DType::f32, DType::bf16, DType::i32, DType::i64, DType::boolean}) {
    INFO(dtypeName(to));
    compareWithReference(*oneOp(op::Cast, {special.type}, {{"dtype", to}}), {special});
  }
  std::mt19937 rng(1);
  for (DType from : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::boolean})
    for (DType to : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::boolean}) {
      INFO(dtypeName(from) << " to " << dtypeName(to));
      TensorType t{from, {23}};
      compareWithReference(*oneOp(op::Cast, {t}, {{"dtype", to}}),
                           {randomLiteral(t, rng, -50, 50)});
    }
}

TEST_CASE("cpu: bf16 computes in f32 and rounds to nearest even") {
  TensorType t{DType::bf16, {4, 16}};
  checkOp(op::Add, {t, t}, {}, -2, 2, 1e-2);
  checkOp(op::Mul, {t, TensorType{DType::bf16, {16}}}, {}, -2, 2, 1e-2);
  checkOp(op::Exp, {t}, {}, -2, 2, 1e-2);
  // Ties at 1 + 2^-8: the f32 to bf16 rounding itself.
  Literal ties = lit({4}, {1.00390625, 1.01171875, 1.00390625 + 1e-6, -1.00390625});
  compareWithReference(*oneOp(op::Cast, {ties.type}, {{"dtype", DType::bf16}}), {ties});
}

TEST_CASE("cpu: constant, iota and random_uniform") {
  Graph g;
  Builder b(g);
  Value *seed = g.addInput("seed", InputKind::Data, philoxKeyType());
  Value *seed2 = g.addInput("seed2", InputKind::Data, philoxKeyType());
  g.addOutput("splat", b.splat(2.5, DType::f32, {3, 5}));
  g.addOutput("table", b.constant({1, -2, 3, 4e10}, DType::i64, {2, 2}));
  g.addOutput("table_f", b.constant({0.1, 0.2, 0.3}, DType::bf16, {3}));
  g.addOutput("iota", b.create(op::Iota, {}, {{"shape", IntList{2, 3, 4}}, {"axis", int64_t{1}}}));
  g.addOutput("iota_f", b.create(op::Iota, {}, {{"shape", IntList{5}}, {"dtype", DType::f32}}));
  g.addOutput("rand", b.create(op::RandomUniform, {seed},
                               {{"shape", IntList{7, 33}}, {"offset", int64_t{12345}}}));
  g.addOutput("rand64", b.create(op::RandomUniform, {seed2},
                                 {{"shape", IntList{65}}, {"dtype", DType::f64}}));
  g.addOutput("rand16", b.create(op::RandomUniform, {seed},
                                 {{"shape", IntList{40}}, {"dtype", DType::bf16}}));
  auto exe = cpuBackend().compile(g, {});
  CHECK(stat(*exe, "fallback nodes") == 0);
  // Random numbers must be bit-identical for every 64-bit seed, so compare with zero tolerance.
  for (uint64_t s : {uint64_t{0}, uint64_t{7}, ~uint64_t{2}, uint64_t{1} << 40,
                     uint64_t{0x8000000180000001}, ~uint64_t{0}})
    compareWithReference(g, {keyLiteral(s), keyLiteral(s * 0x9E3779B97F4A7C15)}, 0.0);
}

TEST_CASE("cpu: large kernels split over threads give the same result") {
  auto g = oneOp(op::Mul, {f32({512, 1024}), f32({1024})});
  std::mt19937 rng(3);
  std::vector<Literal> in = {randomLiteral(f32({512, 1024}), rng), randomLiteral(f32({1024}), rng)};
  compareWithReference(*g, in, 0.0, 2);
  compareWithReference(*g, in, 0.0, 1);
}

TEST_CASE("cpu: an elementwise f32 kernel is vectorised") {
  auto g = oneOp(op::Add, {f32({256, 64}), f32({256, 64})});
  std::optional<kernel::Kernel> k = kernel::lowerNode(*g->nodes()[0]);
  REQUIRE(k);
  std::string ir = cpu::optimizedIR({&*k, 1});
  INFO(ir);
  CHECK((ir.find("<16 x float>") != std::string::npos ||
         ir.find("<8 x float>") != std::string::npos));
}

TEST_CASE("cpu: a graph mixes JIT kernels and reference fallbacks") {
  Graph g;
  Builder b(g);
  Value *table = g.addInput("table", InputKind::Parameter, f32({10, 6}));
  Value *ids = g.addInput("ids", InputKind::Data, TensorType{DType::i64, {4}});
  Value *bias = g.addInput("bias", InputKind::Parameter, f32({6}));
  Value *rows = b.create(op::Gather, {table, ids});
  Value *h = b.create(op::Tanh, {b.create(op::Add, {rows, bias})});
  // Integer scatter_add has no lowering (the reference saturates its sums once): a fallback.
  Value *counts =
      b.create(op::ScatterAdd, {b.splat(0, DType::i64, {10}), ids, b.splat(1, DType::i64, {4})});
  g.addOutput("h", h);
  g.addOutput("counts", b.create(op::Mul, {counts, counts}));
  g.addOutput("bias_again", bias);
  auto exe = cpuBackend().compile(g, {});
  int64_t nodes = static_cast<int64_t>(g.nodes().size());
  CHECK(stat(*exe, "kernels") == nodes - 1);
  CHECK(stat(*exe, "fallback nodes") == 1);
  CHECK(stat(*exe, "fallback scatter_add") == 1);
  CHECK(cpuBackend().supports(*g.nodes()[0]));
  CHECK(!cpuBackend().supports(*counts->def));
  std::mt19937 rng(5);
  Literal id_values = lit({4}, {3, 0, 3, 2}, DType::i64);
  compareWithReference(
      g, {randomLiteral(table->type, rng), id_values, randomLiteral(bias->type, rng)});
  // Bad indices are reported by the gather kernel's trap with the reference kernel's message.
  std::vector<HostBuffer> args = {toBuffer(randomLiteral(table->type, rng)),
                                  toBuffer(lit({4}, {3, 10, 0, 0}, DType::i64)),
                                  toBuffer(randomLiteral(bias->type, rng))};
  CHECK_THROWS_WITH_AS(exe->run(args), doctest::Contains("index 10 is out of range [0, 10)"),
                       Error);
  std::string text = kernel::printKernels(g);
  CHECK(text.find("fallback @scatter_add_") != std::string::npos);
  CHECK(text.find(": reference kernel of scatter_add") != std::string::npos);
  CHECK(text.find("kernel @gather_0(") != std::string::npos);
  CHECK(text.find("trap0 on %in1: \"gather: index {} is out of range [0, 10) along axis 0\"") !=
        std::string::npos);
}

TEST_CASE("cpu: reductions over any axes") {
  std::vector<std::pair<Shape, IntList>> cases = {
      {{4, 33}, {1}},         {{4, 33}, {0}},         {{4, 33}, {0, 1}}, {{2, 3, 5}, {0, 2}},
      {{2, 3, 5}, {1}},       {{2, 1, 5}, {1}},       {{6}, {0}},        {{3, 0}, {1}},
      {{2, 3, 4, 5}, {1, 2}}, {{2, 3, 4, 5}, {-1, 0}}};
  for (const auto &[shape, axes] : cases)
    for (bool keep : {false, true}) {
      INFO(shapeStr(shape) << " axes " << shapeStr(axes) << " keepdims " << keep);
      for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64})
        for (OpHandle op : {op::ReduceSum, op::ReduceMax, op::ReduceMean}) {
          if (op == op::ReduceMax && numElements(shape) == 0)
            continue;
          checkOp(op, {TensorType{dt, shape}}, {{"axes", axes}, {"keepdims", keep}});
        }
    }
  // A NaN wins the maximum, as in the reference.
  Literal x = lit({2, 3}, {1, NAN, 3, -1, -2, -3});
  compareWithReference(*oneOp(op::ReduceMax, {x.type}, {{"axes", IntList{1}}}), {x});
}

TEST_CASE("cpu: shape ops move elements as the reference") {
  checkOp(op::Reshape, {f32({4, 6})}, {{"shape", IntList{3, 8}}});
  checkOp(op::Transpose, {f32({2, 3, 4})}, {{"perm", IntList{2, 0, 1}}});
  checkOp(op::Transpose, {f32({2, 3, 4, 5})}, {{"perm", IntList{0, 2, 3, 1}}});
  checkOp(op::Transpose, {f32({2, 1, 4})}, {{"perm", IntList{1, 2, 0}}});
  checkOp(op::Transpose, {TensorType{DType::bf16, {3, 5}}}, {{"perm", IntList{1, 0}}});
  checkOp(op::BroadcastTo, {f32({3, 1})}, {{"shape", IntList{2, 3, 4}}});
  checkOp(op::BroadcastTo, {TensorType{DType::i64, {}}}, {{"shape", IntList{5}}});
  checkOp(op::Slice, {f32({6, 7})}, {{"start", IntList{1, 2}}, {"limit", IntList{5, 7}}});
  checkOp(op::Slice, {f32({6, 7})},
          {{"start", IntList{0, 1}}, {"limit", IntList{6, 7}}, {"stride", IntList{2, 3}}});
  checkOp(op::Concat, {f32({2, 3}), f32({2, 5}), f32({2, 0})}, {{"axis", int64_t{1}}});
  checkOp(op::Concat, {TensorType{DType::boolean, {2, 3}}, TensorType{DType::boolean, {1, 3}}},
          {{"axis", int64_t{0}}});
  checkOp(op::Pad, {f32({3, 4})}, {{"low", IntList{1, 0}}, {"high", IntList{2, 3}}});
  checkOp(op::Pad, {f32({3, 4})},
          {{"low", IntList{0, 2}}, {"high", IntList{1, 0}}, {"interior", IntList{1, 2}}});
  checkOp(op::Pad, {TensorType{DType::i32, {0, 2}}},
          {{"low", IntList{1, 1}}, {"high", IntList{0, 0}}});
}

TEST_CASE("cpu: batched matmul with transposes and broadcast batches") {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  std::vector<Case> cases = {
      {{5, 7}, {7, 3}, false, false},      {{7, 5}, {7, 3}, true, false},
      {{5, 7}, {3, 7}, false, true},       {{7, 5}, {3, 7}, true, true},
      {{2, 5, 7}, {7, 9}, false, false},   {{2, 1, 4, 6}, {3, 6, 2}, false, false},
      {{3, 4, 6}, {1, 5, 6}, false, true}, {{4, 0}, {0, 3}, false, false}};
  for (const Case &c : cases) {
    INFO(shapeStr(c.a) << " x " << shapeStr(c.b) << " ta " << c.ta << " tb " << c.tb);
    AttrMap attrs = {{"transpose_a", c.ta}, {"transpose_b", c.tb}};
    for (DType dt : {DType::f32, DType::f64, DType::i32})
      checkOp(op::Matmul, {TensorType{dt, c.a}, TensorType{dt, c.b}}, attrs);
    checkOp(op::Matmul, {TensorType{DType::bf16, c.a}, TensorType{DType::bf16, c.b}}, attrs, -2, 2,
            2e-2);
  }
}

TEST_CASE("cpu: adds and relus right after a oneDNN matmul are its post-ops where they fit") {
  // Post-ops: folded rows with a bias and with a full residual, a batched product with a full
  // addend and the addend first, a bf16 bias (where oneDNN has bf16 post-ops), a group of bias
  // and relu (two). Not: an addend
  // that folded rows cannot broadcast ([4,1,6]), a product that is also an output, an add that
  // is not the next node, a group with a mul.
  auto g = parseGraph(R"(graph @post_ops {
  input data %x: f32[4,5,8]
  input param %w: f32[6,8]
  input param %bias: f32[6]
  input data %r: f32[4,5,6]
  input data %a: f32[3,4,5]
  input data %b: f32[3,5,7]
  input data %full: f32[3,4,7]
  input data %rows: f32[4,1,6]
  input data %xh: bf16[4,5,8]
  input param %wh: bf16[6,8]
  input param %bh: bf16[6]
  %0 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %1 = add(%0, %bias) : f32[4,5,6]
  %2 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %3 = add(%2, %r) : f32[4,5,6]
  %4 = matmul(%a, %b) : f32[3,4,7]
  %5 = add(%full, %4) : f32[3,4,7]
  %6 = matmul(%xh, %wh) {transpose_b = true} : bf16[4,5,6]
  %7 = add(%6, %bh) : bf16[4,5,6]
  %8 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %9 = add(%8, %rows) : f32[4,5,6]
  %10 = matmul(%a, %b) : f32[3,4,7]
  %11 = add(%10, %full) : f32[3,4,7]
  %12 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %13 = neg(%r) : f32[4,5,6]
  %14 = add(%12, %13) : f32[4,5,6]
  %15 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %16 = add(%15, %bias) : f32[4,5,6] group(1)
  %17 = relu(%16) : f32[4,5,6] group(1)
  %18 = matmul(%x, %w) {transpose_b = true} : f32[4,5,6]
  %19 = add(%18, %bias) : f32[4,5,6] group(2)
  %20 = mul(%19, %r) : f32[4,5,6] group(2)
  output "bias" = %1
  output "residual" = %3
  output "batched" = %5
  output "bf16" = %7
  output "rows" = %9
  output "product" = %10
  output "sum" = %11
  output "apart" = %14
  output "ffn" = %17
  output "scaled" = %20
})",
                      "post_ops.kir");
  std::mt19937 rng(7);
  std::vector<Literal> inputs;
  for (const GraphInput &in : g->inputs())
    inputs.push_back(randomLiteral(in.value->type, rng));
  std::vector<Literal> want = reference::run(*g, inputs);
  std::vector<Literal> got = runOn(cpuBackend(), *g, inputs);
  REQUIRE(got.size() == want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    INFO("output " << g->outputs()[o].name);
    double tol = want[o].type.dtype == DType::bf16 ? 3e-2 : 1e-5;
    for (int64_t i = 0; i < want[o].size(); ++i)
      CHECK(std::abs(got[o].data[i] - want[o].data[i]) <= tol * (1 + std::abs(want[o].data[i])));
  }
  // The memory plan's debug mode poisons each buffer where it dies: the sums stand.
  std::vector<Literal> poisoned = runOn(cpuBackend(), *g, inputs, {.poison_dead_buffers = true});
  for (size_t o = 0; o < want.size(); ++o)
    CHECK(poisoned[o].data == got[o].data);
  // oneDNN has a bf16 matmul with post-ops only on some ISAs (not on AVX2 alone).
  // The product under output "bf16" = add(product, bias).
  const Node &bf16_matmul = *g->outputs()[3].value->def->operands[0]->def;
  REQUIRE((bf16_matmul.is(op::Matmul) && bf16_matmul.result()->type.dtype == DType::bf16));
  cpu::onednn::PostOp bias{.kind = cpu::onednn::PostOp::Add,
                           .addend = TensorType{DType::bf16, {6}}};
  int64_t bf16_post_ops =
      cpu::onednn::createMatmulWithPostOps(bf16_matmul, std::span(&bias, 1), 1) ? 1 : 0;
  CHECK(stat(*cpuBackend().compile(*g, {}), "matmul post-ops") == 5 + bf16_post_ops);
  CHECK(stat(*cpuBackend().compile(*g, {.cpu_kernels = CpuKernels::Jit}), "matmul post-ops") == 0);
}

TEST_CASE("cpu: softmax, softmax_grad and layer_norm as group kernels") {
  for (DType dt : {DType::f32, DType::f64}) {
    TensorType t{dt, {3, 4, 17}};
    for (int64_t axis : {-1, 1, 0}) {
      INFO("axis " << axis);
      checkOp(op::Softmax, {t}, {{"axis", axis}});
      checkOp(op::SoftmaxGrad, {t, t}, {{"axis", axis}});
      checkOp(op::LayerNorm, {t}, {{"axis", axis}});
    }
    TensorType w{dt, {17}};
    checkOp(op::LayerNorm, {t, w}, {});
    checkOp(op::LayerNorm, {t, w, w}, {{"eps", 1e-3}});
    checkOp(op::LayerNorm, {t, TensorType{dt, {4, 17}}, TensorType{dt, {4, 17}}},
            {{"axis", int64_t{1}}});
  }
  // A row masked everywhere gives NaN, as in the reference.
  Literal x = lit({2, 3}, {-INFINITY, -INFINITY, -INFINITY, 1, 2, 3});
  compareWithReference(*oneOp(op::Softmax, {x.type}), {x});
  auto g = oneOp(op::Softmax, {f32({4, 8})});
  std::optional<kernel::Kernel> k = kernel::lowerNode(*g->nodes()[0]);
  REQUIRE(k);
  std::string text = kernel::print(*k);
  CHECK(text.find("group %g0 = 0 to 4 {") != std::string::npos);
  CHECK(text.find("group_reduce max %acc0") != std::string::npos);
}
