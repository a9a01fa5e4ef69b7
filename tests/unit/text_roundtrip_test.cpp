// The text form: print -> parse -> print is the identity, and bad text gets located errors.

#include "test_util.h"

#include "ir/parser.h"
#include "ir/printer.h"

#include <cmath>

using namespace kiln;

namespace {

std::string roundTrip(const Graph &g) {
  std::string once = printGraph(g);
  auto parsed = parseGraph(once, "roundtrip.kir");
  return printGraph(*parsed);
}

std::string parseError(const std::string &text) {
  try {
    parseGraph(text, "bad.kir");
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

} // namespace

TEST_CASE("graphs built in C++ print, parse and print the same") {
  Graph g("block");
  Builder b(g, Location{"model.cpp", 12, 5});
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {2, 4}});
  Value *w = g.addInput("encoder.layers.0.linear1.weight", InputKind::Parameter,
                        TensorType{DType::f32, {3, 4}});
  Value *m = g.addInput("adam.m", InputKind::State, TensorType{DType::bf16, {3}});
  Value *h = b.create(op::Matmul, {x, w}, {{"transpose_b", true}});
  b.setLocation({});
  Value *c = b.constant({-INFINITY, 0.1, 1e-30, 3}, DType::f32, {1, 4});
  Value *s = b.splat(NAN, DType::f64, {});
  Value *cat = b.create(op::Concat, {h, h}, {{"axis", int64_t{-1}}});
  g.addOutput("h", cat);
  g.addOutput("c", c);
  g.addOutput("s", s);
  g.addOutput("m with \"quotes\"", m);
  std::string text = printGraph(g);
  CHECK(roundTrip(g) == text);
  CHECK(text.find("loc(\"model.cpp\":12:5)") != std::string::npos);
  CHECK(text.find("value = [-inf, 0.1, 1e-30, 3.0]") != std::string::npos);
}

TEST_CASE("multi-result values and floats survive the round trip exactly") {
  const char *text =
      "kiln.format 1\n"
      "graph @g {\n"
      "  input data %x: f64[3]\n"
      "  %0 = constant() {dtype = f64, shape = [3], value = [0.30000000000000004, 1e+300, -0.0]} : "
      "f64[3]\n"
      "  %1 = add(%x, %0) : f64[3]\n"
      "  output \"y\" = %1\n"
      "}\n";
  auto g = parseGraph(text, "t.kir");
  CHECK(printGraph(*g) == text);
  CHECK(std::signbit(g->nodes()[0]->getFloats("value")[2]));
}

TEST_CASE("parse errors carry file:line:col and say what was expected") {
  CHECK(parseError("graph @g {\n  %0 = frobnicate() : f32[]\n}\n") ==
        "bad.kir:2:8: error: unknown op 'frobnicate'");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n  %0 = exp(%y) : f32[2]\n}\n") ==
        "bad.kir:3:12: error: use of undefined value '%y'");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n  %0 = exp(%x) : f32[3]\n}\n") ==
        "bad.kir:3:8: error: exp: result 0 is declared f32[3], but the operands give f32[2]");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n  %0 = add(%x) : f32[2]\n}\n") ==
        "bad.kir:3:8: error: add: expected 2 operands, found 1");
  CHECK(parseError("graph @g {\n  input data %x: f33[2]\n}\n") ==
        "bad.kir:2:18: error: unknown dtype 'f33'; expected f32, f64, bf16, i32, i64 or bool");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n") ==
        "bad.kir:3:1: error: expected '}' to close the graph, found end of input");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n  %0 = exp(%x : f32[2]\n}\n") ==
        "bad.kir:3:15: error: expected ',', found ':'");
  CHECK(parseError("graph @g {\n  output \"y\" = %0\n}\n") ==
        "bad.kir:2:16: error: use of undefined value '%0'");
  CHECK(parseError("") == "bad.kir:1:1: error: expected 'graph', found end of input");
  CHECK(parseError("graph @g {\n  input data %x: f32[2]\n  %0 = softmax(%x) {axis = \"last\"} : "
                   "f32[2]\n}\n") == "bad.kir:3:8: error: softmax: attribute 'axis' expects an "
                                     "integer, found a string (\"last\")");
  CHECK(parseError("graph @g {\n  \"oops\n}\n") == "bad.kir:2:3: error: unterminated string");
}

TEST_CASE("truncated text never crashes the parser") {
  std::string text =
      "graph @g {\n  input data %x: f32[2,3]\n  input param %w: f32[3]\n"
      "  %0 = reduce_sum(%x) {axes = [-1], keepdims = false} : f32[2] loc(\"m.cpp\":4:2)\n"
      "  %1:1 = add(%0, %0) : f32[2]\n  output \"y\" = %1#0\n}\n";
  CHECK_NOTHROW(parseGraph(text, "t.kir"));
  for (size_t cut = 0; cut + 1 < text.size(); ++cut)
    CHECK_THROWS_AS(parseGraph(text.substr(0, cut), "t.kir"), Error);
}
