// Passes keep what a graph computes: each is run on graphs and compared on the reference
// interpreter before and after.

#include "test_util.h"

#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"

#include <sstream>

using namespace kiln;

namespace {

const char *kGraph = R"(graph @g {
  input data %x: f32[2,3]
  input data %y: f32[3,2]
  %zero = constant() {value = [0.0]} : f32[]
  %one = constant() {value = [1.0]} : f32[]
  %two = constant() {value = [2.0]} : f32[]
  %three = add(%two, %one) : f32[]
  %a = add(%x, %zero) : f32[2,3]
  %b = mul(%one, %a) : f32[2,3]
  %c = transpose(%b) {perm = [1, 0]} : f32[3,2]
  %d = transpose(%c) {perm = [1, 0]} : f32[2,3]
  %e = reshape(%d) {shape = [6]} : f32[6]
  %f = reshape(%e) {shape = [3, 2]} : f32[3,2]
  %g1 = exp(%f) : f32[3,2]
  %g2 = exp(%f) : f32[3,2]
  %h = add(%g1, %g2) : f32[3,2]
  %i = mul(%h, %three) : f32[3,2]
  %j = neg(%y) : f32[3,2]
  %k = neg(%j) : f32[3,2]
  %l = sub(%i, %k) : f32[3,2]
  %unused = tanh(%l) : f32[3,2]
  output "out" = %l
})";

std::vector<Literal> runBoth(const Graph &g, const std::vector<Literal> &inputs) {
  return reference::run(g, inputs, reference::Options{true});
}

} // namespace

TEST_CASE("the simplifying passes preserve the graph's values") {
  for (std::string_view name : {"canonicalize", "cse", "dce"}) {
    const PassInfo &info = *lookupPass(name);
    INFO(info.name);
    auto g = parseGraph(kGraph, "g.kir");
    auto before = g->clone();
    auto inputs = test::randomLiterals(*g, 3);
    PassContext ctx;
    info.create({})->run(*g, ctx);
    auto want = runBoth(*before, inputs), got = runBoth(*g, inputs);
    REQUIRE(want.size() == got.size());
    for (size_t i = 0; i < want.size(); ++i)
      CHECK(got[i].data == want[i].data);
  }
}

TEST_CASE("canonicalize + cse + dce reduce the sample to its essence") {
  auto g = parseGraph(kGraph, "g.kir");
  PassManager pm(PassManagerOptions{.statistics = true});
  pm.addPipeline("canonicalize,cse,dce");
  std::ostringstream dump, report;
  pm.run(*g, dump);
  pm.report(report);
  std::string text = printGraph(*g, PrintOptions{Locations::None});
  CHECK(text == R"(kiln.format 1
graph @g {
  input data %x: f32[2,3]
  input data %y: f32[3,2]
  %0 = reshape(%x) {shape = [3, 2]} : f32[3,2]
  %1 = exp(%0) : f32[3,2]
  %2 = add(%1, %1) : f32[3,2]
  %3 = constant() {value = [3.0]} : f32[]
  %4 = mul(%2, %3) : f32[3,2]
  %5 = sub(%4, %y) : f32[3,2]
  output "out" = %5
}
)");
  CHECK(report.str().find("(1) nodes merged") != std::string::npos);
  CHECK(report.str().find("(1) x + 0") != std::string::npos);
}

TEST_CASE("an unknown pass name is a clear error") {
  PassManager pm;
  CHECK_THROWS_WITH_AS(
      pm.addPipeline("cse,frob"),
      doctest::Contains("unknown pass 'frob'; known passes: canonicalize, cse, dce,"), Error);
}
