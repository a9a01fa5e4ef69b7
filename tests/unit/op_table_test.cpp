// Walks the op table: every op declares inference and a reference kernel, has a sample here,
// and its sample parses, verifies, prints back to the same text and runs.

#include "test_util.h"

#include "ir/parser.h"
#include "ir/printer.h"

#include <map>

using namespace kiln;

namespace {

// One sample node per op, written as the body of a graph with inputs %a: f32[2,3],
// %b: f32[2,3], %m: bool[2,3], %i: i64[2], %s: i64[]. A new op without a sample fails the
// test below.
const std::map<std::string, std::string> kSamples = {
    {"abs", "abs(%a) : f32[2,3]"},
    {"add", "add(%a, %b) : f32[2,3]"},
    {"and", "and(%m, %m) : bool[2,3]"},
    {"attention", "attention(%a, %b, %b, %b2) {scale = 0.5} : f32[2,3]"},
    {"broadcast_to", "broadcast_to(%a) {shape = [4, 2, 3]} : f32[4,2,3]"},
    {"cast", "cast(%a) {dtype = bf16} : bf16[2,3]"},
    {"concat", "concat(%a, %b) {axis = 1} : f32[2,6]"},
    {"constant", "constant() {shape = [2], value = [1.5, -2.0]} : f32[2]"},
    {"div", "div(%a, %b) : f32[2,3]"},
    {"eq", "eq(%a, %b) : bool[2,3]"},
    {"exp", "exp(%a) : f32[2,3]"},
    {"gather", "gather(%a, %i) {axis = 1} : f32[2,2]"},
    {"ge", "ge(%a, %b) : bool[2,3]"},
    {"gelu", "gelu(%a) {approximate = \"tanh\"} : f32[2,3]"},
    {"gelu_grad", "gelu_grad(%a, %b) : f32[2,3]"},
    {"attention_grad", "attention_grad(%a, %b, %b, %b2, %a) {causal = true, scale = 0.5} : "
                       "f32[2,3], f32[2,3], f32[2,3]"},
    {"layer_norm_grad", "layer_norm_grad(%a, %w, %b) : f32[2,3], f32[3], f32[3]"},
    {"pad", "pad(%a) {high = [0, 2], interior = [1, 0], low = [1, 0]} : f32[4,5]"},
    {"softmax_grad", "softmax_grad(%a, %b) : f32[2,3]"},
    {"softmax_cross_entropy_grad", "softmax_cross_entropy_grad(%a, %i, %l) : f32[2,3]"},
    {"gt", "gt(%a, %b) : bool[2,3]"},
    {"iota", "iota() {axis = 1, shape = [2, 3]} : i64[2,3]"},
    {"layer_norm", "layer_norm(%a) {eps = 1e-06} : f32[2,3]"},
    {"le", "le(%a, %b) : bool[2,3]"},
    {"log", "log(%a) : f32[2,3]"},
    {"lt", "lt(%a, %b) : bool[2,3]"},
    {"matmul", "matmul(%a, %b) {transpose_b = true} : f32[2,2]"},
    {"max", "max(%a, %b) : f32[2,3]"},
    {"min", "min(%a, %b) : f32[2,3]"},
    {"mul", "mul(%a, %b) : f32[2,3]"},
    {"ne", "ne(%a, %b) : bool[2,3]"},
    {"neg", "neg(%a) : f32[2,3]"},
    {"not", "not(%m) : bool[2,3]"},
    {"or", "or(%m, %m) : bool[2,3]"},
    {"pow", "pow(%a, %b) : f32[2,3]"},
    {"random_uniform", "random_uniform(%s) {offset = 7, shape = [3, 2]} : f32[3,2]"},
    {"reduce_max", "reduce_max(%a) {axes = [0], keepdims = true} : f32[1,3]"},
    {"reduce_mean", "reduce_mean(%a) {axes = [-1]} : f32[2]"},
    {"reduce_sum", "reduce_sum(%a) {axes = [0, 1]} : f32[]"},
    {"relu", "relu(%a) : f32[2,3]"},
    {"reshape", "reshape(%a) {shape = [3, 2]} : f32[3,2]"},
    {"rsqrt", "rsqrt(%a) : f32[2,3]"},
    {"scatter_add", "scatter_add(%a, %i, %b2) {axis = 1} : f32[2,3]"},
    {"select", "select(%m, %a, %b) : f32[2,3]"},
    {"sigmoid", "sigmoid(%a) : f32[2,3]"},
    {"slice", "slice(%a) {limit = [2, 3], start = [1, 0], stride = [1, 2]} : f32[1,2]"},
    {"softmax", "softmax(%a) {axis = 0} : f32[2,3]"},
    {"softmax_cross_entropy", "softmax_cross_entropy(%a, %i) {label_smoothing = 0.1} : f32[]"},
    {"sqrt", "sqrt(%a) : f32[2,3]"},
    {"sub", "sub(%a, %b) : f32[2,3]"},
    {"tanh", "tanh(%a) : f32[2,3]"},
    {"transpose", "transpose(%a) {perm = [1, 0]} : f32[3,2]"},
};

std::string sampleGraph(const std::string &node) {
  // One output per result type after the ':'.
  size_t types = 1;
  for (size_t i = node.rfind(" : "); i < node.size(); ++i)
    types += node[i] == ']' && i + 1 < node.size() && node[i + 1] == ',';
  std::string results = types > 1 ? ":" + std::to_string(types) : "";
  std::string outputs;
  for (size_t i = 0; i < types; ++i)
    outputs +=
        types > 1 ? fmt::format("  output \"out{}\" = %0#{}\n", i, i) : "  output \"out\" = %0\n";
  return "graph @sample {\n"
         "  input data %a: f32[2,3]\n"
         "  input data %b: f32[2,3]\n"
         "  input data %b2: f32[2,2]\n"
         "  input data %m: bool[2,3]\n"
         "  input data %i: i64[2]\n"
         "  input data %s: i64[]\n"
         "  input data %w: f32[3]\n"
         "  input data %l: f32[]\n"
         "  %0" +
         results + " = " + node + "\n" + outputs + "}\n";
}

} // namespace

TEST_CASE(
    "every op declares inference, a reference kernel, and a VJP or a non-differentiable mark") {
  REQUIRE(!allOps().empty());
  for (const OpDef *op : allOps()) {
    INFO(op->name);
    CHECK(bool(op->infer));
    CHECK(bool(op->reference));
    CHECK(!op->summary.empty());
    CHECK(op->num_results >= 1);
    CHECK((op->max_operands < 0 || op->max_operands >= op->min_operands));
    CHECK(lookupOp(op->name) == op);
    CHECK(op->differentiable != Differentiable::Unset);
    CHECK((op->differentiable == Differentiable::Yes) == bool(op->vjp));
    for (const AttrSpec &a : op->attrs)
      if (a.default_value)
        CHECK(attrKind(*a.default_value) == a.kind);
  }
}

TEST_CASE("every op has a sample that parses, round-trips and runs") {
  for (const OpDef *op : allOps()) {
    INFO(op->name);
    auto it = kSamples.find(std::string(op->name));
    REQUIRE_MESSAGE(it != kSamples.end(), "op has no sample in op_table_test.cpp");
    std::string text = sampleGraph(it->second);
    auto g = parseGraph(text, "sample.kir");
    CHECK(printGraph(*g) == text);
    Literal ids(TensorType{DType::i64, {2}}, {2, 0});
    std::vector<Literal> inputs = {
        Literal(TensorType{DType::f32, {2, 3}}, {1, 2, 3, 4, 5, 6}),
        Literal(TensorType{DType::f32, {2, 3}}, {0.5, 0.25, 2, 1, 3, 0.75}),
        Literal(TensorType{DType::f32, {2, 2}}, {1, 2, 3, 4}),
        Literal(TensorType{DType::boolean, {2, 3}}, {0, 1, 0, 0, 0, 1}),
        ids,
        Literal::scalar(3, DType::i64),
        Literal(TensorType{DType::f32, {3}}, {1, -1, 2}),
        Literal::scalar(0.5)};
    auto out = reference::run(*g, inputs);
    REQUIRE(out.size() == g->outputs().size());
    for (size_t i = 0; i < out.size(); ++i)
      CHECK(out[i].type == g->outputs()[i].value->type);
  }
  CHECK(kSamples.size() == allOps().size());
}
