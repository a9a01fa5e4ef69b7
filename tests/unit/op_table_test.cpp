// Walks the op table: every op declares inference and a reference kernel, has samples, and
// each sample parses, verifies, prints back to the same text and runs.

#include "test_util.h"

#include "ir/parser.h"
#include "ir/printer.h"
#include "tests/conformance/samples.h"

#include <set>

using namespace kiln;

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

TEST_CASE("every op has samples that parse, round-trip and run") {
  for (const OpDef *op : allOps()) {
    INFO(op->name);
    REQUIRE_MESSAGE(!op->samples.empty(), "op has no samples in its OpDef");
    CHECK(op->samples.size() <= 4);
    for (const OpSample &sample : op->samples) {
      INFO(sample.node);
      CHECK(sample.node.starts_with(std::string(op->name) + "("));
      std::string text = test::sampleText(sample);
      std::unique_ptr<Graph> g;
      REQUIRE_NOTHROW(g = test::sampleGraph(sample));
      CHECK(printGraph(*g) == text);
      for (const SampleRange &r : sample.ranges) {
        INFO(r.input);
        CHECK((r.lo < r.hi || !r.values.empty()));
        bool declared = false;
        for (const GraphInput &in : g->inputs())
          declared |= "%" + in.name == r.input;
        CHECK(declared);
      }
      auto out = reference::run(*g, test::sampleInputs(*g, sample, test::sampleSeed(sample)));
      REQUIRE(out.size() == g->outputs().size());
      for (size_t i = 0; i < out.size(); ++i)
        CHECK(out[i].type == g->outputs()[i].value->type);
    }
  }
}

TEST_CASE("the op handles and the table name the same ops, each once") {
  std::set<std::string_view> handles;
  for (const OpHandle &h : allOpHandles()) {
    INFO(h.name);
    CHECK(handles.insert(h.name).second);
    CHECK(lookupOp(h.name) != nullptr);
  }
  for (const OpDef *op : allOps()) {
    INFO(op->name);
    CHECK(handles.count(op->name) == 1);
  }
  CHECK(handles.size() == allOps().size());
}
