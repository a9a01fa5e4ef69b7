// The graph data structure, types, literals and the Philox generator.

#include "test_util.h"

#include "ir/parser.h"
#include "ir/philox.h"
#include "ir/printer.h"
#include "ir/verifier.h"

#include <set>

using namespace kiln;

TEST_CASE("types print and broadcast") {
  CHECK(TensorType{DType::f32, {2, 3}}.str() == "f32[2,3]");
  CHECK(TensorType{DType::boolean, {}}.str() == "bool[]");
  CHECK(parseDType("bf16") == DType::bf16);
  CHECK(!parseDType("f16"));
  CHECK(broadcastShapes({2, 1, 3}, {4, 1}) == Shape{2, 4, 3});
  CHECK(broadcastShapes({0, 3}, {1, 3}) == Shape{0, 3});
  CHECK(!broadcastShapes({2, 3}, {3, 2}));
  CHECK(normalizeAxis(-1, 3) == 2);
  CHECK(!normalizeAxis(3, 3));
  CHECK(!normalizeAxis(0, 0));
}

TEST_CASE("literals store every dtype little-endian and round trip through bytes") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::boolean}) {
    INFO(dtypeName(dt));
    Literal l(TensorType{dt, {3}}, {1, 0, 3});
    auto bytes = l.toBytes();
    CHECK(static_cast<int64_t>(bytes.size()) == 3 * dtypeSize(dt));
    Literal back = Literal::fromBytes(l.type, bytes);
    CHECK(back.data == std::vector<double>{1, 0, dt == DType::boolean ? 1.0 : 3.0});
  }
  // bf16 1.0 is 0x3F80, stored low byte first.
  auto bf = Literal(TensorType{DType::bf16, {1}}, {1.0}).toBytes();
  CHECK(bf[0] == std::byte{0x80});
  CHECK(bf[1] == std::byte{0x3F});
  // bf16 keeps 7 fraction bits: neighbours of 1 are 2^-7 apart, and ties go to even.
  CHECK(roundToBF16(1.0 + 1.0 / 256) == 1.0);
  CHECK(roundToBF16(1.0 + 3.0 / 256) == 1.0 + 1.0 / 64);
  CHECK(roundToBF16(1.0 + 3.0 / 512) == 1.0 + 1.0 / 128);
}

TEST_CASE("Philox-4x32-10 matches the Random123 known-answer vectors") {
  // From Random123's kat_vectors: philox4x32 10 rounds.
  auto zero = philox4x32({0, 0, 0, 0}, {0, 0});
  CHECK(zero == std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  auto ones =
      philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff});
  CHECK(ones == std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  auto pi = philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0});
  CHECK(pi == std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("Philox keys: a seed's words, and the step folded in") {
  CHECK(philoxKey(0x123456789abcdef0) == PhiloxKey{0x9abcdef0, 0x12345678});
  // Folding steps 0..999 into one key gives 1000 distinct keys, none the key itself, and the
  // same key again for the same step.
  PhiloxKey base = philoxKey(7);
  std::set<PhiloxKey> keys;
  for (uint64_t step = 0; step < 1000; ++step)
    keys.insert(foldIn(base, step));
  CHECK(keys.size() == 1000);
  CHECK(!keys.count(base));
  CHECK(foldIn(base, 5) == foldIn(base, 5));
  CHECK(foldIn(philoxKey(8), 5) != foldIn(base, 5));
  // Known answers from the Philox of tests/lit/Inputs/philox_check.py, written independently:
  // the first two words of the block for counter (data lo, data hi, 1, 0).
  CHECK(foldIn(base, 5) == PhiloxKey{0x8c209be8, 0x413017d8});
  CHECK(foldIn(philoxKey(~uint64_t{0}), ~uint64_t{1}) == PhiloxKey{0xb772fbf9, 0xfa89ab05});
  // Every stream of a run has its own key; each step its own dropout key.
  CHECK(streamKey(7, RandomStream::Init) != streamKey(7, RandomStream::Data));
  CHECK(streamKey(7, RandomStream::Data) != streamKey(7, RandomStream::Dropout));
}

TEST_CASE("replaceAllUsesWith, dead nodes and topological order") {
  Graph g;
  Builder b(g);
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2}});
  Value *e = b.create(op::Exp, {x});
  Value *dead = b.create(op::Tanh, {e});
  Value *n = b.create(op::Neg, {e});
  g.addOutput("y", n);
  CHECK(g.numUses(e) == 2);
  CHECK(g.removeDeadNodes() == 1);
  CHECK(g.nodes().size() == 2);
  (void)dead;
  // A node appended after its user is moved before it by sorting.
  Value *l = b.create(op::Log, {x});
  g.replaceAllUsesWith(e, l);
  CHECK(g.numUses(e) == 0);
  g.sortTopologically();
  verifyGraph(g);
  g.removeDeadNodes();
  CHECK(printGraph(g) ==
        "kiln.format 1\ngraph @main {\n  input data %x: f32[2]\n  %0 = log(%x) : f32[2]\n"
        "  %1 = neg(%0) : f32[2]\n  output \"y\" = %1\n}\n");
}

TEST_CASE("clone is deep and prints the same") {
  Graph g("m");
  Builder b(g, Location{"model.cpp", 3, 9});
  Value *x = g.addInput("x", InputKind::Parameter, TensorType{DType::f32, {2, 2}});
  g.addOutput("y", b.create(op::Matmul, {x, x}, {{"transpose_a", true}}));
  auto c = g.clone();
  CHECK(printGraph(*c) == printGraph(g));
  CHECK(c->inputs()[0].value.get() != g.inputs()[0].value.get());
}

TEST_CASE("the verifier reports a node used before its definition") {
  Graph g;
  Builder b(g, Location{"m.cpp", 5, 1});
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2}});
  Value *e = b.create(op::Exp, {x});
  b.create(op::Neg, {e});
  std::swap(g.nodes()[0], g.nodes()[1]);
  CHECK_THROWS_WITH_AS(verifyGraph(g),
                       "m.cpp:5:1: error: neg: operand 0 is used before it is defined", Error);
}

TEST_CASE("attributes: defaults filled, unknown and mistyped ones reported") {
  Graph g;
  Builder b(g, Location{"m.cpp", 9, 2});
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2, 3}});
  Node *n = b.createNode(op::Softmax, {x});
  CHECK(n->getInt("axis") == -1);
  CHECK_THROWS_WITH_AS(b.create(op::Softmax, {x}, {{"axes", int64_t{1}}}),
                       "m.cpp:9:2: error: softmax: unknown attribute 'axes'", Error);
  CHECK_THROWS_WITH_AS(
      b.create(op::Softmax, {x}, {{"axis", 1.5}}),
      "m.cpp:9:2: error: softmax: attribute 'axis' expects an integer, found a float (1.5)", Error);
  CHECK_THROWS_WITH_AS(
      b.create(op::Reshape, {x}),
      "m.cpp:9:2: error: reshape: missing required attribute 'shape' (integer list)", Error);
  CHECK_THROWS_WITH_AS(b.create(op::Exp, {x, x}),
                       "m.cpp:9:2: error: exp: expected 1 operand, found 2", Error);
}

// Lookups by name go through hash indexes, so a graph of N inputs and nodes is built, queried and
// parsed with O(N) name probes (hashes and comparisons, counted by the indexes): a scan would
// take N^2 / 2 = 5 * 10^9 comparisons here. The lower bounds show each lookup was an index probe
// rather than a scan beside the index.
TEST_CASE("a graph of 100,000 inputs and nodes is built and parsed with O(N) name probes") {
  constexpr int64_t n = 100'000;
  auto name = [](const char *prefix, int64_t i) { return fmt::format("{}{}", prefix, i); };
  Graph g;
  Builder b(g);
  TensorType t{DType::f32, {2}};

  uint64_t start = name_probes;
  std::vector<Value *> x;
  for (int64_t i = 0; i < n; ++i)
    x.push_back(g.addInput(name("x", i), InputKind::Parameter, t));
  // n nodes over the first half of the inputs: a chain of adds, then negations.
  Value *acc = x[0];
  for (int64_t i = 1; i < n / 2; ++i)
    acc = b.create(op::Add, {acc, x[i]});
  while (static_cast<int64_t>(g.nodes().size()) < n)
    acc = b.create(op::Neg, {acc});
  g.addOutput("y", acc);
  for (int64_t i = 0; i < n / 2; ++i)
    g.addOutput(name("o", i), x[i]);
  uint64_t built = name_probes - start;
  // Each addInput and addOutput hashes its name once to insert it; nodes have no names.
  CHECK(built >= static_cast<uint64_t>(n + n / 2));
  CHECK(built <= static_cast<uint64_t>(4 * n));

  start = name_probes;
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i)
    wrong += g.findInput(name("x", i)) != &g.inputs()[i] || g.findInput(name("y", i)) ||
             g.findOutput(name("o", i / 2)) != &g.outputs()[1 + i / 2];
  uint64_t found = name_probes - start;
  CHECK(wrong == 0);
  CHECK(found >= static_cast<uint64_t>(3 * n));
  CHECK(found <= static_cast<uint64_t>(12 * n));

  // The unread half of the inputs goes, as ModelBuilder::finish drops unread parameters; the
  // indexes follow.
  CHECK(g.eraseInputs([&](const GraphInput &in) { return g.numUses(in.value.get()) == 0; }) ==
        n / 2);
  CHECK(g.inputs().size() == static_cast<size_t>(n / 2));
  CHECK(!g.findInput(name("x", n - 1)));
  CHECK(g.findInput(name("x", n / 2 - 1)) == &g.inputs().back());
  CHECK(g.inputs().back().value->index == n / 2 - 1);
  CHECK(g.numUses(x[1]) == 2); // an add and the output "o1"

  std::string text = printGraph(g);
  start = name_probes;
  auto parsed = parseGraph(text, "big.kir");
  uint64_t parsing = name_probes - start;
  // Every definition and every use of a value is at least one probe of the parser's names.
  CHECK(parsing >= static_cast<uint64_t>(2 * n));
  CHECK(parsing <= static_cast<uint64_t>(30 * n));
  CHECK(parsed->nodes().size() == static_cast<size_t>(n));
  CHECK(printGraph(*parsed) == text);
}
