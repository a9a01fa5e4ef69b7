// The conformance suite, in the manner of ggml's test-backend-ops: every sample of every op of
// the table (the samples live with each op in ir/ops/), forward and VJP, on every backend of
// the backend list, against the reference interpreter. A new op or a new backend is covered
// without touching this file.
//
// The oracle is the interpreter itself (reference::run on Literals); the "reference" backend
// is compared with it like any other, which checks the backend seam (host buffers, signature
// order). A backend that falls back to the reference kernel for a node agrees trivially.
//
// Gradients against central finite differences are gradient_test.cpp's job: it requires a
// sample of every differentiable op. Here the VJP graphs of the table's samples are compared
// across backends.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "backend/backend.h"
#include "backend/reference/interpreter.h"
#include "ir/builder.h"
#include "passes/autodiff.h"
#include "tests/conformance/samples.h"
#include "tests/test_environment.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <optional>

using namespace kiln;

namespace {

// ---- tolerances ------------------------------------------------------------------------------

/// An element agrees when |got - want| <= atol + rtol * |want|.
struct Tolerance {
  double rtol, atol;
};

/// The tolerances of one float dtype: for samples whose result elements each come from a few
/// operations, and for those that sum many terms (OpSample::accumulates) and VJP graphs.
struct DTypeTolerances {
  DType dtype;
  Tolerance elementwise, accumulating;
};

// Why these numbers. The oracle computes every op in double and rounds once to the dtype, so
// it is correctly rounded. A backend computing in the dtype itself, with vectorised exp, log and
// tanh, is off by a few ulps.
//  - f32 (ulp 1.2e-7 relative): elementwise rtol 1e-5 allows about 80 ulps; atol 1e-6 covers
//    results that cancel toward zero (x - y, tanh near 0) from inputs of magnitude ~1.
//    Accumulating results (reductions, matmul, softmax, layer norm, attention, the loss, and
//    every VJP graph, which chains ops and sums over broadcast axes) reassociate sums of up to
//    ~60 terms of magnitude ~1: n * eps * sum|x| is about 1e-5 at worst, so rtol 1e-4 and
//    atol 1e-5.
//  - f64: the same reasoning with eps 2.2e-16.
//  - bf16 (8 significant bits, ulp 2^-7 relative at worst): a backend that computes in f32 and
//    rounds once may land one ulp away at a near-tie, so elementwise rtol 2^-7 ~ 8e-3; a
//    fused kernel keeps in f32 what the oracle rounds to bf16 after every op, so accumulating
//    results get a few ulps, 3e-2.
// Integer and bool results, and samples without a float input (constant, iota, random_uniform,
// casts of integers), are compared exactly: same values, bit for bit.
const DTypeTolerances kTolerances[] = {
    {DType::f32, {1e-5, 1e-6}, {1e-4, 1e-5}},
    {DType::f64, {1e-12, 1e-14}, {1e-10, 1e-12}},
    {DType::bf16, {8e-3, 1e-3}, {3e-2, 1e-2}},
};

/// The tolerance of a float result, or nullopt for an exact comparison.
std::optional<Tolerance> toleranceFor(DType dtype, bool accumulates, bool exact) {
  if (exact || !isFloat(dtype))
    return std::nullopt;
  for (const DTypeTolerances &t : kTolerances)
    if (t.dtype == dtype)
      return accumulates ? t.accumulating : t.elementwise;
  FAIL("no tolerance for dtype " << dtypeName(dtype));
  return std::nullopt;
}

// ---- running and comparing -------------------------------------------------------------------

/// A backend with the options it is compiled with: every backend as it comes, and the CPU
/// backend also with each of its kernel paths forced, so both paths are checked on every op.
struct Target {
  const Backend *backend;
  CompileOptions options;
  std::string name;
};

std::vector<Target> allTargets() {
  std::vector<Target> targets;
  for (const Backend *b : allBackends()) {
    if (std::string why = b->unavailable(); !why.empty()) {
      MESSAGE("skipped: " << why);
      continue;
    }
    targets.push_back({b, {}, std::string(b->name())});
    if (b->name() != "cpu")
      continue;
    for (CpuKernels k : {CpuKernels::Jit, CpuKernels::OneDnn})
      targets.push_back({b, CompileOptions{.cpu_kernels = k},
                         fmt::format("cpu --cpu-kernels={}", cpuKernelsName(k))});
  }
  return targets;
}

/// Runs a graph on a backend with inputs in the graph's input order, through host buffers in
/// the executable's signature order; returns the outputs in the graph's output order.
std::vector<Literal> runOn(const Target &target, const Graph &g,
                           const std::vector<Literal> &inputs) {
  std::unique_ptr<Executable> exe = target.backend->compile(g, target.options);
  const Signature &sig = exe->signature();
  std::vector<HostBuffer> args;
  for (const Signature::Input &in : sig.inputs) {
    size_t i = 0;
    while (i < g.inputs().size() && g.inputs()[i].name != in.name)
      ++i;
    REQUIRE_MESSAGE(i < g.inputs().size(), "signature input '" << in.name << "' is no input");
    args.emplace_back(inputs[i].type, inputs[i].toBytes());
  }
  std::vector<HostBuffer> outs = exe->run(args);
  REQUIRE(outs.size() == sig.outputs.size());
  std::vector<Literal> result(g.outputs().size());
  for (size_t i = 0; i < sig.outputs.size(); ++i) {
    const GraphOutput *out = g.findOutput(sig.outputs[i].name);
    REQUIRE_MESSAGE(out, "signature output '" << sig.outputs[i].name << "' is no output");
    result[out - g.outputs().data()] = Literal::fromBytes(outs[i].type(), outs[i].bytes());
  }
  return result;
}

/// The multi-index of flat element i, for messages.
std::string indexOf(int64_t i, const Shape &shape) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return shapeStr(idx);
}

/// Whether two elements agree: NaN with NaN, infinities by sign, else within the tolerance
/// (exactly without one).
bool agree(double want, double got, const std::optional<Tolerance> &tol) {
  if (std::isnan(want) || std::isnan(got))
    return std::isnan(want) && std::isnan(got);
  if (!tol || std::isinf(want) || std::isinf(got))
    return want == got;
  return std::abs(got - want) <= tol->atol + tol->rtol * std::abs(want);
}

/// The first differing elements reported per output; the rest are counted.
constexpr int kReportedElements = 4;

/// How one output compared: whether every element agreed, and the largest share of its
/// tolerance an element used (0 for exact comparisons).
struct Comparison {
  bool ok = true;
  double worst = 0;
};

/// Compares one output with the oracle and reports each differing element (the first few) as
/// a failure naming where, the output, the element and both values.
Comparison compareOutput(const std::string &where, const std::string &output, const Literal &want,
                         const Literal &got, const std::optional<Tolerance> &tol) {
  if (got.type != want.type) {
    FAIL_CHECK(where << ": output '" << output << "' is " << got.type.str() << ", the reference "
                     << want.type.str());
    return {false, 0};
  }
  Comparison c;
  int64_t bad = 0;
  for (int64_t i = 0; i < want.size(); ++i) {
    double w = want.data[i], g = got.data[i];
    if (tol && std::isfinite(w) && std::isfinite(g))
      c.worst = std::max(c.worst, std::abs(g - w) / (tol->atol + tol->rtol * std::abs(w)));
    if (agree(w, g, tol))
      continue;
    if (++bad <= kReportedElements)
      FAIL_CHECK(fmt::format("{}: output '{}' element {} {}: reference {:.9g}, backend {:.9g} "
                             "(difference {:.3g}{})",
                             where, output, i, indexOf(i, want.shape()), w, g, g - w,
                             tol ? fmt::format(", rtol {:g}, atol {:g}", tol->rtol, tol->atol)
                                 : std::string(", exact")));
  }
  if (bad > kReportedElements)
    FAIL_CHECK(where << ": output '" << output << "': " << bad - kReportedElements
                     << " more elements differ");
  c.ok = bad == 0;
  return c;
}

/// What one test case found per backend, printed at its end: graphs run, those that differ,
/// and per float dtype the closest call (the largest share of a tolerance used, and where).
struct Tally {
  struct Closest {
    double share = 0;
    std::string where;
  };
  std::map<std::string, int> graphs;
  std::map<std::string, std::vector<std::string>> failures;
  std::map<std::string, std::map<std::string, Closest>> closest;
};

void printTally(const char *what, const Tally &tally) {
  for (const auto &[backend, n] : tally.graphs) {
    auto failures = tally.failures.find(backend);
    size_t failed = failures == tally.failures.end() ? 0 : failures->second.size();
    std::string line = fmt::format("{} on '{}': {} graphs, {} differ from the reference", what,
                                   backend, n, failed);
    if (failed)
      for (const std::string &f : failures->second)
        line += "\n  differs: " + f;
    if (tally.closest.count(backend))
      for (const auto &[dtype, c] : tally.closest.at(backend))
        line += c.share == 0 ? fmt::format("\n  {}: every element equals the reference", dtype)
                             : fmt::format("\n  {}: the closest call uses {:.0f}% of the "
                                           "tolerance: {}",
                                           dtype, 100 * c.share, c.where);
    MESSAGE(line);
  }
}

/// Runs a graph on every backend and compares every output with the oracle's.
void checkEveryBackend(const std::string &where, const Graph &g, const std::vector<Literal> &inputs,
                       bool accumulates, bool exact, Tally &tally) {
  std::vector<Literal> want;
  try {
    want = reference::run(g, inputs);
  } catch (const Error &e) {
    FAIL_CHECK(where << ": the reference interpreter fails: " << std::string(e.what()));
    return;
  }
  for (const Target &target : allTargets()) {
    const std::string &name = target.name;
    std::string at = fmt::format("{} on backend '{}'", where, name);
    ++tally.graphs[name];
    bool ok = true;
    try {
      std::vector<Literal> got = runOn(target, g, inputs);
      for (size_t i = 0; i < want.size(); ++i) {
        const std::string &output = g.outputs()[i].name;
        DType dtype = want[i].type.dtype;
        Comparison c =
            compareOutput(at, output, want[i], got[i], toleranceFor(dtype, accumulates, exact));
        ok &= c.ok;
        if (!isFloat(dtype) || exact)
          continue;
        Tally::Closest &closest = tally.closest[name][std::string(dtypeName(dtype))];
        if (c.worst >= closest.share)
          closest = {c.worst, fmt::format("{}, output '{}'", where, output)};
      }
    } catch (const Error &e) {
      FAIL_CHECK(at << ": " << std::string(e.what()));
      ok = false;
    }
    if (!ok)
      tally.failures[name].push_back(where);
  }
}

bool hasFloatInput(const Graph &g) {
  for (const GraphInput &in : g.inputs())
    if (isFloat(in.value->type.dtype))
      return true;
  return false;
}

// ---- VJP graphs ------------------------------------------------------------------------------

/// The sample's graph with loss = sum(out * w) for fixed random weights w, so every result
/// element matters, differentiated with respect to every float input that the op gives a
/// gradient (attention's mask gets none, by design). Outputs: the loss, then grad.<input>.
/// nullptr when the sample has no single float result or no float input; throws the autodiff
/// error when no input can be differentiated.
std::unique_ptr<Graph> vjpGraph(const OpSample &sample) {
  std::unique_ptr<Graph> g = test::sampleGraph(sample);
  if (g->outputs().size() != 1 || !isFloat(g->outputs()[0].value->type.dtype) || !hasFloatInput(*g))
    return nullptr;
  Builder b(*g);
  Value *y = g->outputs()[0].value;
  std::mt19937_64 rng(test::sampleSeed(sample) + 1);
  std::vector<double> w(y->type.numElements());
  for (double &v : w)
    v = std::uniform_real_distribution<double>(-1, 1)(rng);
  Value *weighted = b.create(op::Mul, {y, b.constant(w, y->type.dtype, y->type.shape)});
  IntList axes;
  for (int64_t d = 0; d < y->type.rank(); ++d)
    axes.push_back(d);
  g->eraseOutputs([](const GraphOutput &) { return true; });
  g->addOutput("loss", b.create(op::ReduceSum, {weighted}, {{"axes", axes}}));
  std::vector<std::string> wrt;
  std::optional<Error> refused;
  for (const GraphInput &in : g->inputs()) {
    if (!isFloat(in.value->type.dtype))
      continue;
    try {
      differentiate(*g->clone(), AutodiffOptions{"loss", {in.name}});
      wrt.push_back(in.name);
    } catch (const Error &e) {
      refused = e;
    }
  }
  if (wrt.empty())
    throw *refused;
  differentiate(*g, AutodiffOptions{"loss", wrt});
  return g;
}

std::string sampleName(const OpDef &op, size_t i, const OpSample &s) {
  return fmt::format("{} sample {} `{}`", op.name, i, s.node);
}

} // namespace

TEST_CASE("conformance: every op sample on every backend equals the reference interpreter") {
  REQUIRE(lookupBackend("reference"));
  Tally tally;
  for (const OpDef *op : allOps()) {
    REQUIRE_MESSAGE(!op->samples.empty(), op->name << " has no samples");
    for (size_t i = 0; i < op->samples.size(); ++i) {
      const OpSample &s = op->samples[i];
      std::string where = sampleName(*op, i, s);
      INFO(where);
      std::unique_ptr<Graph> g = test::sampleGraph(s);
      checkEveryBackend(where, *g, test::sampleInputs(*g, s, test::sampleSeed(s)), s.accumulates,
                        !hasFloatInput(*g), tally);
    }
  }
  printTally("forward", tally);
}

TEST_CASE("conformance: the VJP of every differentiable op sample on every backend") {
  Tally tally;
  for (const OpDef *op : allOps()) {
    if (op->differentiable != Differentiable::Yes)
      continue;
    for (size_t i = 0; i < op->samples.size(); ++i) {
      const OpSample &s = op->samples[i];
      std::string where = "VJP of " + sampleName(*op, i, s);
      INFO(where);
      std::unique_ptr<Graph> g;
      try {
        g = vjpGraph(s);
      } catch (const Error &e) {
        FAIL_CHECK(where << ": autodiff fails: " << std::string(e.what()));
        continue;
      }
      if (g)
        checkEveryBackend(where, *g, test::sampleInputs(*g, s, test::sampleSeed(s)), true, false,
                          tally);
    }
  }
  printTally("VJP", tally);
}

/// The sample with every f32 in its inputs and node (types and dtype attributes) made bf16, or
/// nullopt when it has no f32 or its op does not take the bf16 variant.
std::optional<OpSample> bf16Variant(const OpSample &s) {
  auto swap = [](std::string text) {
    for (size_t at = text.find("f32"); at != std::string::npos; at = text.find("f32", at + 4))
      text.replace(at, 3, "bf16");
    return text;
  };
  OpSample v = s;
  v.node = swap(s.node);
  for (std::string &in : v.inputs)
    in = swap(in);
  if (v.node == s.node && v.inputs == s.inputs)
    return std::nullopt;
  try {
    test::sampleGraph(v);
  } catch (const Error &) {
    return std::nullopt;
  }
  return v;
}

TEST_CASE("conformance: every f32 op sample made bf16, forward and VJP, on every backend") {
  // bf16 tolerances (kTolerances): the oracle rounds to bf16 after every op, a backend's fused
  // kernels keep f32 between the ops of a group and oneDNN accumulates in f32.
  Tally forward, vjp;
  int variants = 0;
  for (const OpDef *op : allOps())
    for (size_t i = 0; i < op->samples.size(); ++i) {
      std::optional<OpSample> s = bf16Variant(op->samples[i]);
      if (!s)
        continue;
      ++variants;
      std::string where = "bf16 " + sampleName(*op, i, *s);
      INFO(where);
      std::unique_ptr<Graph> g = test::sampleGraph(*s);
      checkEveryBackend(where, *g, test::sampleInputs(*g, *s, test::sampleSeed(*s)), s->accumulates,
                        !hasFloatInput(*g), forward);
      if (op->differentiable != Differentiable::Yes)
        continue;
      std::unique_ptr<Graph> dg;
      try {
        dg = vjpGraph(*s);
      } catch (const Error &e) {
        FAIL_CHECK("VJP of " << where << ": autodiff fails: " << std::string(e.what()));
        continue;
      }
      if (dg)
        checkEveryBackend("VJP of " + where, *dg, test::sampleInputs(*dg, *s, test::sampleSeed(*s)),
                          true, false, vjp);
    }
  MESSAGE(variants << " samples have a bf16 variant");
  CHECK(variants >= 60);
  printTally("bf16 forward", forward);
  printTally("bf16 VJP", vjp);
}

TEST_CASE("conformance: which sample nodes each backend runs with its own kernels") {
  // Not a check: a list, so a run shows what a backend covers and what falls back.
  for (const Backend *backend : allBackends()) {
    std::vector<std::string> own, fallback;
    for (const OpDef *op : allOps()) {
      bool all = true;
      for (const OpSample &s : op->samples)
        all &= backend->supports(*test::sampleGraph(s)->outputs()[0].value->def);
      (all ? own : fallback).push_back(std::string(op->name));
    }
    MESSAGE(fmt::format("backend '{}': own kernels for every sample of {} ops: {}\n  falls back "
                        "for some samples of {} ops: {}",
                        backend->name(), own.size(), fmt::join(own, ", "), fallback.size(),
                        fmt::join(fallback, ", ")));
  }
}

// Kernels are cached in the build tree; the vulkan backend runs on lavapipe.
int main(int argc, char **argv) {
  test::setTestEnvironment(KILN_TEST_CACHE_DIR);
  doctest::Context context(argc, argv);
  return context.run();
}
