// The reference kernels, op by op, against values worked out by hand.

#include "test_util.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;

TEST_CASE("unary math") {
  Literal x = lit({4}, {-2, -0.5, 0.5, 2});
  checkLiteral(runOp1(op::Neg, {x}), {4}, {2, 0.5, -0.5, -2});
  checkLiteral(runOp1(op::Abs, {x}), {4}, {2, 0.5, 0.5, 2});
  checkLiteral(runOp1(op::Relu, {x}), {4}, {0, 0, 0.5, 2});
  checkLiteral(runOp1(op::Exp, {x}), {4}, {0.1353352832, 0.6065306597, 1.6487212707, 7.3890560989});
  checkLiteral(runOp1(op::Tanh, {x}), {4},
               {-0.9640275801, -0.4621171573, 0.4621171573, 0.9640275801});
  checkLiteral(runOp1(op::Sigmoid, {x}), {4},
               {0.1192029220, 0.3775406688, 0.6224593312, 0.8807970780});
  // gelu(x) = x * Phi(x); Phi(2) = 0.97724986805, Phi(0.5) = 0.69146246127.
  checkLiteral(runOp1(op::Gelu, {x}), {4},
               {-2 * (1 - 0.97724986805), -0.5 * (1 - 0.69146246127), 0.5 * 0.69146246127,
                2 * 0.97724986805});
  checkLiteral(runOp1(op::Gelu, {x}, {{"approximate", std::string("tanh")}}), {4},
               {-0.04540230591, -0.15428599, 0.34571401, 1.95459769}, 1e-6);
  Literal p = lit({3}, {0.25, 1, 4});
  checkLiteral(runOp1(op::Log, {p}), {3}, {-1.3862943611, 0, 1.3862943611});
  checkLiteral(runOp1(op::Sqrt, {p}), {3}, {0.5, 1, 2});
  checkLiteral(runOp1(op::Rsqrt, {p}), {3}, {2, 1, 0.5});
}

TEST_CASE("unary ops reject the wrong dtype at the node's location") {
  Graph g;
  Builder b(g, Location{"model.cpp", 7, 3});
  Value *i = g.addInput("i", InputKind::Data, TensorType{DType::i64, {2}});
  CHECK_THROWS_WITH_AS(
      b.create(op::Exp, {i}),
      "model.cpp:7:3: error: exp: operand 0 must be a floating-point tensor, found i64[2]", Error);
}

TEST_CASE("cast rounds to the target dtype") {
  Literal x = lit({4}, {1.7, -1.7, 0, 1.00000001}, DType::f64);
  checkLiteral(runOp1(op::Cast, {x}, {{"dtype", DType::i32}}), {4}, {1, -1, 0, 1});
  checkLiteral(runOp1(op::Cast, {x}, {{"dtype", DType::boolean}}), {4}, {1, 1, 0, 1});
  Literal f = runOp1(op::Cast, {x}, {{"dtype", DType::f32}});
  CHECK(f.data[3] == 1.0); // 1 + 1e-8 is not representable in f32
  Literal h = runOp1(op::Cast, {lit({1}, {1.00390625 + 1e-7})}, {{"dtype", DType::bf16}});
  CHECK(h.data[0] == 1.0078125); // rounds up past the tie at 1 + 2^-8
}

TEST_CASE("binary ops broadcast like numpy") {
  Literal a = lit({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal row = lit({3}, {10, 20, 30});
  Literal col = lit({2, 1}, {100, 200});
  checkLiteral(runOp1(op::Add, {a, row}), {2, 3}, {11, 22, 33, 14, 25, 36});
  checkLiteral(runOp1(op::Add, {a, col}), {2, 3}, {101, 102, 103, 204, 205, 206});
  checkLiteral(runOp1(op::Sub, {row, a}), {2, 3}, {9, 18, 27, 6, 15, 24});
  checkLiteral(runOp1(op::Mul, {col, row}), {2, 3}, {1000, 2000, 3000, 2000, 4000, 6000});
  checkLiteral(runOp1(op::Div, {a, lit({}, {2})}), {2, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
  checkLiteral(runOp1(op::Pow, {a, lit({1}, {2})}), {2, 3}, {1, 4, 9, 16, 25, 36});
  checkLiteral(runOp1(op::Max, {a, lit({}, {3.5})}), {2, 3}, {3.5, 3.5, 3.5, 4, 5, 6});
  checkLiteral(runOp1(op::Min, {a, lit({}, {3.5})}), {2, 3}, {1, 2, 3, 3.5, 3.5, 3.5});
}

TEST_CASE("broadcasting with size-1 and zero-size dimensions") {
  Literal a = lit({1, 3, 1}, {1, 2, 3});
  Literal b = lit({2, 1, 2}, {10, 20, 30, 40});
  checkLiteral(runOp1(op::Add, {a, b}), {2, 3, 2},
               {11, 21, 12, 22, 13, 23, 31, 41, 32, 42, 33, 43});
  Literal empty = lit({0, 3}, {});
  checkLiteral(runOp1(op::Mul, {empty, lit({3}, {1, 2, 3})}), {0, 3}, {});
  checkLiteral(runOp1(op::Add, {lit({2, 0}, {}), lit({1, 0}, {})}), {2, 0}, {});
}

TEST_CASE("binary ops report shapes that do not broadcast") {
  Graph g;
  Builder b(g, Location{"m.cpp", 1, 1});
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2, 3}});
  Value *y = g.addInput("y", InputKind::Data, TensorType{DType::f32, {4}});
  Value *i = g.addInput("i", InputKind::Data, TensorType{DType::i32, {2, 3}});
  CHECK_THROWS_WITH_AS(b.create(op::Add, {x, y}),
                       "m.cpp:1:1: error: add: shapes [2,3] and [4] do not broadcast", Error);
  CHECK_THROWS_WITH_AS(b.create(op::Mul, {x, i}),
                       "m.cpp:1:1: error: mul: operand dtypes differ: f32[2,3] and i32[2,3]",
                       Error);
}

TEST_CASE("comparisons, logic and select") {
  Literal a = lit({4}, {1, 2, 3, 4});
  Literal t = lit({}, {2.5});
  checkLiteral(runOp1(op::Lt, {a, t}), {4}, {1, 1, 0, 0});
  checkLiteral(runOp1(op::Le, {a, lit({}, {2})}), {4}, {1, 1, 0, 0});
  checkLiteral(runOp1(op::Gt, {a, t}), {4}, {0, 0, 1, 1});
  checkLiteral(runOp1(op::Ge, {a, lit({}, {3})}), {4}, {0, 0, 1, 1});
  checkLiteral(runOp1(op::Eq, {a, lit({}, {3})}), {4}, {0, 0, 1, 0});
  checkLiteral(runOp1(op::Ne, {a, lit({}, {3})}), {4}, {1, 1, 0, 1});
  Literal p = lit({4}, {1, 1, 0, 0}, DType::boolean), q = lit({4}, {1, 0, 1, 0}, DType::boolean);
  checkLiteral(runOp1(op::And, {p, q}), {4}, {1, 0, 0, 0});
  checkLiteral(runOp1(op::Or, {p, q}), {4}, {1, 1, 1, 0});
  checkLiteral(runOp1(op::Not, {p}), {4}, {0, 0, 1, 1});
  Literal cond = lit({2, 1}, {1, 0}, DType::boolean);
  checkLiteral(runOp1(op::Select, {cond, lit({3}, {1, 2, 3}), lit({}, {-1})}), {2, 3},
               {1, 2, 3, -1, -1, -1});
  CHECK(runOp1(op::Lt, {a, t}).type.dtype == DType::boolean);
}

TEST_CASE("reductions over axes, negative axes and keepdims") {
  Literal x = lit({2, 3}, {1, 5, 3, 4, 2, 6});
  checkLiteral(runOp1(op::ReduceSum, {x}, {{"axes", IntList{1}}}), {2}, {9, 12});
  checkLiteral(runOp1(op::ReduceSum, {x}, {{"axes", IntList{-2}}, {"keepdims", true}}), {1, 3},
               {5, 7, 9});
  checkLiteral(runOp1(op::ReduceSum, {x}, {{"axes", IntList{0, 1}}}), {}, {21});
  checkLiteral(runOp1(op::ReduceMax, {x}, {{"axes", IntList{-1}}}), {2}, {5, 6});
  checkLiteral(runOp1(op::ReduceMean, {x}, {{"axes", IntList{0}}}), {3}, {2.5, 3.5, 4.5});
  checkLiteral(runOp1(op::ReduceSum, {x}, {{"axes", IntList{}}}), {2, 3}, {1, 5, 3, 4, 2, 6});
  // Summing over an empty axis gives zeros; the kept axes survive.
  checkLiteral(runOp1(op::ReduceSum, {lit({2, 0}, {})}, {{"axes", IntList{1}}}), {2}, {0, 0});
  Graph g;
  Builder b(g, Location{"m.cpp", 2, 4});
  Value *v = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2, 3}});
  CHECK_THROWS_WITH_AS(b.create(op::ReduceSum, {v}, {{"axes", IntList{2}}}),
                       "m.cpp:2:4: error: reduce_sum: axis 2 is out of range for rank 2", Error);
  CHECK_THROWS_WITH_AS(b.create(op::ReduceSum, {v}, {{"axes", IntList{1, -1}}}),
                       "m.cpp:2:4: error: reduce_sum: axis -1 appears twice", Error);
}

TEST_CASE("reshape, transpose, broadcast_to") {
  Literal x = lit({2, 3}, {1, 2, 3, 4, 5, 6});
  checkLiteral(runOp1(op::Reshape, {x}, {{"shape", IntList{3, 2}}}), {3, 2}, {1, 2, 3, 4, 5, 6});
  checkLiteral(runOp1(op::Transpose, {x}, {{"perm", IntList{1, 0}}}), {3, 2}, {1, 4, 2, 5, 3, 6});
  Literal y = lit({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  checkLiteral(runOp1(op::Transpose, {y}, {{"perm", IntList{2, 0, 1}}}), {3, 2, 1},
               {1, 4, 2, 5, 3, 6});
  checkLiteral(runOp1(op::BroadcastTo, {lit({3}, {1, 2, 3})}, {{"shape", IntList{2, 3}}}), {2, 3},
               {1, 2, 3, 1, 2, 3});
  Graph g;
  Builder b(g, Location{"m.cpp", 3, 1});
  Value *v = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2, 3}});
  CHECK_THROWS_WITH_AS(
      b.create(op::Reshape, {v}, {{"shape", IntList{4, 2}}}),
      "m.cpp:3:1: error: reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)", Error);
  CHECK_THROWS_AS(b.create(op::Transpose, {v}, {{"perm", IntList{0, 0}}}), Error);
  CHECK_THROWS_AS(b.create(op::BroadcastTo, {v}, {{"shape", IntList{3, 3}}}), Error);
}

TEST_CASE("slice and concat") {
  Literal x = lit({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  checkLiteral(runOp1(op::Slice, {x}, {{"start", IntList{1, 1}}, {"limit", IntList{3, 4}}}), {2, 3},
               {5, 6, 7, 9, 10, 11});
  checkLiteral(
      runOp1(op::Slice, {x},
             {{"start", IntList{0, 0}}, {"limit", IntList{3, 4}}, {"stride", IntList{2, 3}}}),
      {2, 2}, {0, 3, 8, 11});
  checkLiteral(runOp1(op::Slice, {x}, {{"start", IntList{1, 2}}, {"limit", IntList{1, 2}}}), {0, 0},
               {});
  Literal a = lit({2, 1}, {1, 2}), b = lit({2, 2}, {3, 4, 5, 6});
  checkLiteral(runOp1(op::Concat, {a, b}, {{"axis", int64_t{-1}}}), {2, 3}, {1, 3, 4, 2, 5, 6});
  checkLiteral(runOp1(op::Concat, {lit({1, 2}, {1, 2}), lit({0, 2}, {}), lit({1, 2}, {3, 4})},
                      {{"axis", int64_t{0}}}),
               {2, 2}, {1, 2, 3, 4});
}

TEST_CASE("gather is an embedding lookup; scatter_add is its adjoint") {
  Literal table = lit({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  Literal ids = lit({2, 2}, {3, 0, 1, 1}, DType::i64);
  checkLiteral(runOp1(op::Gather, {table, ids}), {2, 2, 2}, {30, 31, 0, 1, 10, 11, 10, 11});
  // Along the last axis with batch_dims: picks logits[b, t, label[b, t]].
  Literal logits = lit({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal labels = lit({2}, {2, 0}, DType::i32);
  checkLiteral(
      runOp1(op::Gather, {logits, labels}, {{"axis", int64_t{1}}, {"batch_dims", int64_t{1}}}), {2},
      {3, 4});
  Literal zeros = lit({4, 2}, std::vector<double>(8, 0.0));
  Literal upd = lit({2, 2, 2}, {1, 1, 2, 2, 3, 3, 4, 4});
  checkLiteral(runOp1(op::ScatterAdd, {zeros, ids, upd}), {4, 2}, {2, 2, 7, 7, 0, 0, 1, 1});
  CHECK_THROWS_WITH_AS(runOp1(op::Gather, {table, lit({1}, {4}, DType::i64)}),
                       doctest::Contains("gather: index 4 is out of range [0, 4) along axis 0"),
                       Error);
}

TEST_CASE("batched matmul with transposes and broadcast batch") {
  Literal a = lit({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0});
  Literal b = lit({3, 2}, {1, 0, 0, 1, 1, 1});
  checkLiteral(runOp1(op::Matmul, {a, b}), {2, 2, 2}, {4, 5, 10, 11, 1, 0, 0, 1});
  Literal bt = lit({2, 3}, {1, 0, 1, 0, 1, 1});
  checkLiteral(runOp1(op::Matmul, {a, bt}, {{"transpose_b", true}}), {2, 2, 2},
               {4, 5, 10, 11, 1, 0, 0, 1});
  Literal at = lit({3, 2}, {1, 4, 2, 5, 3, 6});
  checkLiteral(runOp1(op::Matmul, {at, b}, {{"transpose_a", true}}), {2, 2}, {4, 5, 10, 11});
  Graph g;
  Builder bld(g, Location{"model.cpp", 42, 7});
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {32, 64}});
  CHECK_THROWS_WITH_AS(bld.create(op::Matmul, {x, x}),
                       "model.cpp:42:7: error: matmul: inner dimensions differ: [32,64] x [32,64]",
                       Error);
}

TEST_CASE("constant, iota and random_uniform") {
  Graph g;
  Builder b(g);
  Value *c = b.constant({1, 2, 3, 4}, DType::f32, {2, 2});
  Value *s = b.splat(0.5, DType::f64, {3});
  Value *io = b.create(op::Iota, {}, {{"shape", IntList{2, 3}}, {"axis", int64_t{-1}}});
  Value *seed = g.addInput("seed", InputKind::Data, philoxKeyType());
  Value *r =
      b.create(op::RandomUniform, {seed}, {{"shape", IntList{1000}}, {"offset", int64_t{5}}});
  Value *r2 = b.create(op::RandomUniform, {seed}, {{"shape", IntList{3}}, {"offset", int64_t{6}}});
  for (auto [name, v] : {std::pair{"c", c}, {"s", s}, {"io", io}, {"r", r}, {"r2", r2}})
    g.addOutput(name, v);
  auto out = reference::run(g, std::vector<Literal>{keyLiteral(42)});
  checkLiteral(out[0], {2, 2}, {1, 2, 3, 4});
  checkLiteral(out[1], {3}, {0.5, 0.5, 0.5});
  checkLiteral(out[2], {2, 3}, {0, 1, 2, 0, 1, 2});
  double mean = 0;
  for (double v : out[3].data) {
    CHECK(v >= 0);
    CHECK(v < 1);
    mean += v / 1000;
  }
  CHECK(mean == doctest::Approx(0.5).epsilon(0.05));
  // Element i uses counter offset + i: shifting the offset by one shifts the stream.
  CHECK(out[4].data[0] == out[3].data[1]);
  CHECK(out[4].data[1] == out[3].data[2]);
}

TEST_CASE("softmax along any axis") {
  Literal x = lit({2, 2}, {0, std::log(3.0), 1, 1});
  checkLiteral(runOp1(op::Softmax, {x}), {2, 2}, {0.25, 0.75, 0.5, 0.5});
  // Over axis 0: columns (0, 1) and (log 3, 1).
  double e = std::exp(1.0), t = 3.0;
  checkLiteral(runOp1(op::Softmax, {x}, {{"axis", int64_t{0}}}), {2, 2},
               {1 / (1 + e), t / (t + e), e / (1 + e), e / (t + e)});
  // Large logits do not overflow.
  checkLiteral(runOp1(op::Softmax, {lit({2}, {1000, 1000})}), {2}, {0.5, 0.5});
}

TEST_CASE("layer_norm with and without affine parameters") {
  Literal x = lit({2, 2}, {1, 3, -1, -1});
  // Row (1, 3): mean 2, var 1 -> (-1, 1) / sqrt(1 + eps).
  double r = 1 / std::sqrt(1 + 1e-5);
  checkLiteral(runOp1(op::LayerNorm, {x}, {}, true), {2, 2}, {-r, r, 0, 0}, 1e-12);
  Literal w = lit({2}, {2, 3}), bias = lit({2}, {0.5, -0.5});
  checkLiteral(runOp1(op::LayerNorm, {x, w, bias}, {}, true), {2, 2},
               {-2 * r + 0.5, 3 * r - 0.5, 0.5, -0.5}, 1e-12);
  // Over the last two axes of a [1,2,2] tensor: mean 0.5, var 2.75.
  Literal y = lit({1, 2, 2}, {1, 3, -1, -1});
  double r2 = 1 / std::sqrt(2.75 + 1e-5);
  checkLiteral(runOp1(op::LayerNorm, {y}, {{"axis", int64_t{-2}}}, true), {1, 2, 2},
               {0.5 * r2, 2.5 * r2, -1.5 * r2, -1.5 * r2}, 1e-12);
}

TEST_CASE("attention with masks and the causal flag") {
  // One batch, two queries, two keys; q.k gives scores [[0, log 3], [0, 0]] at scale 1.
  Literal q = lit({1, 2, 1}, {std::log(3.0), 0});
  Literal k = lit({1, 2, 1}, {0, 1});
  Literal v = lit({1, 2, 2}, {1, 0, 0, 1});
  checkLiteral(runOp1(op::Attention, {q, k, v}, {{"scale", 1.0}}, true), {1, 2, 2},
               {0.25, 0.75, 0.5, 0.5}, 1e-12);
  checkLiteral(runOp1(op::Attention, {q, k, v}, {{"scale", 1.0}, {"causal", true}}, true),
               {1, 2, 2}, {1, 0, 0.5, 0.5}, 1e-12);
  // A bool mask is true where attending is not allowed (PyTorch's convention).
  Literal bmask = lit({2}, {0, 1}, DType::boolean);
  checkLiteral(runOp1(op::Attention, {q, k, v, bmask}, {{"scale", 1.0}}, true), {1, 2, 2},
               {1, 0, 1, 0}, 1e-12);
  // An additive mask adds to the scores: log 3 on key 0 for both queries.
  Literal amask = lit({1, 2}, {std::log(3.0), 0});
  checkLiteral(runOp1(op::Attention, {q, k, v, amask}, {{"scale", 1.0}}, true), {1, 2, 2},
               {0.5, 0.5, 0.75, 0.25}, 1e-12);
  // The scale multiplies the scores: scale 0 makes attention uniform.
  checkLiteral(runOp1(op::Attention, {q, k, v}, {{"scale", 0.0}}, true), {1, 2, 2},
               {0.5, 0.5, 0.5, 0.5}, 1e-12);
}

TEST_CASE("softmax_cross_entropy with ignore_index and label smoothing") {
  // Rows: logits (0, log 3) -> log-probs (log 1/4, log 3/4).
  Literal logits = lit({3, 2}, {0, std::log(3.0), 0, std::log(3.0), 5, 5});
  Literal labels = lit({3}, {1, 0, -100}, DType::i64);
  double l1 = -std::log(0.75), l0 = -std::log(0.25);
  checkLiteral(runOp1(op::SoftmaxCrossEntropy, {logits, labels}, {}, true), {}, {(l1 + l0) / 2},
               1e-12);
  // Smoothing 0.1 over 2 classes: (1 - 0.1) * nll + 0.1 * mean over classes of -log p.
  double smooth = (l0 + l1) / 2;
  double want = (0.9 * l1 + 0.1 * smooth + 0.9 * l0 + 0.1 * smooth) / 2;
  checkLiteral(runOp1(op::SoftmaxCrossEntropy, {logits, labels}, {{"label_smoothing", 0.1}}, true),
               {}, {want}, 1e-12);
  Literal pad_labels = lit({3}, {0, 0, 1}, DType::i64);
  checkLiteral(
      runOp1(op::SoftmaxCrossEntropy, {logits, pad_labels}, {{"ignore_index", int64_t{0}}}, true),
      {}, {-std::log(0.5)}, 1e-12);
  CHECK_THROWS_WITH_AS(runOp1(op::SoftmaxCrossEntropy, {logits, lit({3}, {1, 2, 0}, DType::i64)}),
                       doctest::Contains("label 2 is out of range [0, 2)"), Error);
}

TEST_CASE("the f64 switch promotes a whole f32 graph") {
  Literal x = lit({1}, {1.0 / 3.0});
  Literal f32 = runOp1(op::Mul, {x, lit({1}, {3.0})});
  Literal f64 = runOp1(op::Exp, {lit({1}, {0.1})}, {}, true);
  CHECK(f32.type.dtype == DType::f32);
  CHECK(f64.type.dtype == DType::f64);
  CHECK(f64.data[0] == std::exp(0.1));
  Literal f32exp = runOp1(op::Exp, {lit({1}, {0.1})});
  CHECK(f32exp.data[0] ==
        static_cast<double>(static_cast<float>(std::exp(static_cast<double>(0.1f)))));
}
