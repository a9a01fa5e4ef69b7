// The differential fuzzer: decodes its bytes into a small random graph (graph_generator.h),
// runs it through each pass pipeline on every backend (the CPU backend in the --cpu-kernels
// mode the input chooses), and compares the results with the reference interpreter on the
// unoptimised graph. Fusion, autodiff of fused ops and the backends must not change what a
// graph computes: not its numbers beyond rounding, and not whether it is refused (an
// out-of-range label is an Error before fusion and after).
//
// Pipelines: "none" (the graph as written) and "infer"; for a graph with a loss and
// parameters, also "train", compared with autodiff and the optimizer alone on the unfused
// graph. The optimizer is SGD with lr 1, so that new parameters are the old ones minus the
// gradients and a wrong gradient shows at full size.
//
// KILN_FUZZ_PRINT=1 prints each graph and run; KILN_FUZZ_LABELS_IN_RANGE=1 draws labels in
// [0, V) only, to fuzz past findings about other labels while their fix is pending.
//
// A mismatch aborts with the pipeline, the backend, the graph and its inputs, and writes
// differential-mismatch.kir and .safetensors in the working folder with the kiln-opt command
// lines that reproduce it.

#include "backend/backend.h"
#include "backend/reference/interpreter.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"
#include "runtime/safetensors.h"
#include "tests/conformance/samples.h"
#include "tests/fuzz/graph_generator.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <optional>
#include <random>
#include <sstream>

namespace kiln::fuzz {
namespace {

// ---- tolerances ------------------------------------------------------------------------------

// The oracle computes the unoptimised graph in f64 (each op in double, f32 values kept in
// double), so it is the exact value of what was written, up to 1e-16. An element agrees when
// |got - want| <= rtol * |want| + atol * scale, scale being the largest |want| of its output
// (at least 1).
//  - f32: a backend rounds every op (or every fused kernel) to f32, 6e-8 relative. The graphs
//    chain up to ~40 ops and sum up to ~60 terms, and subtract nearly equal values (x - mean
//    in a layer norm over 2 elements, then divided by a standard deviation of at least
//    sqrt(eps) ~ 3e-3): that amplifies 6e-8 of the operands' magnitude to ~2e-5 of the
//    result's. rtol = atol = 1e-4 leaves a factor 5; a fusion that changes the formula
//    (a dropped term, a wrong label, a wrong scale) changes results by 1e-2 or more.
//  - f64: the same reasoning with 1.1e-16 gives ~4e-11; 1e-9 also catches changes of 1e-7,
//    such as label-smoothing weights that add up to 1 + 1e-7 taken for exactly 1.
//  - bf16 (op samples only): the conformance suite's accumulating tolerance, 3e-2 and 1e-2.
// Integer and bool outputs are compared exactly.
struct Tolerance {
  double rtol, atol;
};

std::optional<Tolerance> toleranceFor(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return Tolerance{1e-4, 1e-4};
  case DType::f64:
    return Tolerance{1e-9, 1e-9};
  case DType::bf16:
    return Tolerance{3e-2, 1e-2};
  default:
    return std::nullopt;
  }
}

// ---- running ---------------------------------------------------------------------------------

/// What a run gave: outputs by name, or the Error that refused it.
struct Outcome {
  std::map<std::string, Literal> outputs;
  std::optional<std::string> error;
};

/// A backend with its options and the kiln-opt flags that select them.
struct Target {
  const Backend *backend;
  CompileOptions options;
  std::string flags;
};

/// Every backend, the CPU backend in one of its --cpu-kernels modes: the input's choice, since
/// compiling JIT kernels takes most of a run and each mode is the same amount of work.
std::vector<Target> targetsFor(CpuKernels cpu_kernels) {
  std::vector<Target> targets;
  for (const Backend *b : allBackends()) {
    if (!b->unavailable().empty())
      continue; // no driver or device here
    // One thread, and no kernel cache on disk: a fuzzing run compiles many thousand graphs.
    CompileOptions o{.threads = 1, .use_cache = false};
    std::string flags = fmt::format("--backend {}", b->name());
    if (b->name() == "cpu") {
      o.cpu_kernels = cpu_kernels;
      flags += fmt::format(" --cpu-kernels={}", cpuKernelsName(cpu_kernels));
    }
    targets.push_back({b, o, flags});
  }
  return targets;
}

/// Inputs of a graph by name: from `known` where it has the name, else drawn (a "step" input
/// is 1, the first step).
std::vector<Literal> inputsOf(const Graph &g, std::map<std::string, Literal> &known,
                              uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Literal> out;
  for (const GraphInput &in : g.inputs()) {
    auto it = known.find(in.name);
    if (it == known.end()) {
      Literal lit(in.value->type);
      for (double &v : lit.data)
        v = in.role == InputRole::Step ? 1.0
            : isFloat(lit.type.dtype)  ? std::uniform_real_distribution<double>(-1, 1)(rng)
                                       : 0.0;
      lit.roundToDType();
      it = known.emplace(in.name, std::move(lit)).first;
    }
    out.push_back(it->second);
  }
  return out;
}

Outcome runOracle(const Graph &g, std::map<std::string, Literal> &values, uint64_t seed) {
  Outcome o;
  std::vector<Literal> inputs = inputsOf(g, values, seed);
  try {
    std::vector<Literal> outs = reference::run(g, inputs, {.promote_f64 = true});
    for (size_t i = 0; i < outs.size(); ++i)
      o.outputs[g.outputs()[i].name] = std::move(outs[i]);
  } catch (const Error &e) {
    o.error = e.what();
  }
  return o;
}

Outcome runOn(const Target &t, const Graph &g, std::map<std::string, Literal> &values,
              uint64_t seed) {
  Outcome o;
  std::vector<Literal> inputs = inputsOf(g, values, seed);
  try {
    std::unique_ptr<Executable> exe = t.backend->compile(g, t.options);
    std::vector<HostBuffer> args;
    for (const Signature::Input &in : exe->signature().inputs) {
      size_t i = 0;
      while (g.inputs()[i].name != in.name)
        ++i;
      args.emplace_back(inputs[i].type, inputs[i].toBytes());
    }
    std::vector<HostBuffer> outs = exe->run(args);
    for (size_t i = 0; i < outs.size(); ++i)
      o.outputs[exe->signature().outputs[i].name] =
          Literal::fromBytes(outs[i].type(), outs[i].bytes());
  } catch (const Error &e) {
    o.error = e.what();
  }
  return o;
}

/// The graph after these passes.
std::unique_ptr<Graph> withPasses(const Graph &g, const std::vector<std::string> &passes,
                                  const PassOptions &options) {
  std::unique_ptr<Graph> out = g.clone();
  PassManager pm;
  for (const std::string &p : passes)
    pm.addPass(lookupPass(p)->create(options));
  std::ostringstream dump;
  pm.run(*out, dump);
  return out;
}

// ---- comparing -------------------------------------------------------------------------------

bool agree(double want, double got, const std::optional<Tolerance> &tol, double scale) {
  if (std::isnan(want) || std::isnan(got))
    return std::isnan(want) && std::isnan(got);
  if (!tol || std::isinf(want) || std::isinf(got))
    return want == got;
  return std::abs(got - want) <= tol->rtol * std::abs(want) + tol->atol * scale;
}

/// The first difference between an outcome and the oracle's, or nullopt when they agree.
std::optional<std::string> difference(const Outcome &want, const Outcome &got) {
  if (want.error || got.error) {
    if (want.error && got.error)
      return std::nullopt; // refused both times (the messages may differ)
    return want.error
               ? fmt::format("the oracle refuses the graph ({}) but this run gives values",
                             *want.error)
               : fmt::format("the oracle runs the graph but this run refuses it: {}", *got.error);
  }
  for (const auto &[name, w] : want.outputs) {
    auto it = got.outputs.find(name);
    if (it == got.outputs.end())
      return fmt::format("output '{}' is missing", name);
    const Literal &g = it->second;
    if (g.shape() != w.shape())
      return fmt::format("output '{}' is {}, the oracle's {}", name, g.type.str(), w.type.str());
    std::optional<Tolerance> tol = toleranceFor(g.type.dtype);
    double scale = 1;
    for (double v : w.data)
      if (std::isfinite(v))
        scale = std::max(scale, std::abs(v));
    for (int64_t i = 0; i < w.size(); ++i)
      if (!agree(w.data[i], g.data[i], tol, scale))
        return fmt::format(
            "output '{}' element {}: oracle {:.17g}, this run {:.17g}{}", name, i, w.data[i],
            g.data[i],
            tol ? fmt::format(" (rtol {:g}, atol {:g} x {:g})", tol->rtol, tol->atol, scale)
                : std::string(" (exact)"));
  }
  return std::nullopt;
}

/// Writes the inputs of a graph, by name, to a safetensors file (for kiln-opt --inputs).
void writeInputs(const std::string &path, const Graph &g,
                 const std::map<std::string, Literal> &values) {
  TensorMap tensors;
  for (const GraphInput &in : g.inputs()) {
    const Literal &v = values.at(in.name);
    tensors[in.name] = TensorData{v.type.dtype, v.type.shape, v.toBytes()};
  }
  writeSafetensors(path, tensors);
}

/// Reports a mismatch with everything needed to reproduce it, and aborts.
[[noreturn]] void mismatch(const std::string &what, const std::string &pipeline,
                           const std::string &target, const std::string &oracle_flags,
                           const std::string &pipeline_flags, const Graph &oracle, const Graph &run,
                           const std::string &text, const std::map<std::string, Literal> &values) {
  std::string listing;
  for (const auto &[name, v] : values)
    listing += fmt::format("  %{} = {} [{}]\n", name, v.type.str(), fmt::join(v.data, ", "));
  if (std::FILE *f = std::fopen("differential-mismatch.kir", "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
    writeInputs("differential-oracle.safetensors", oracle, values);
    writeInputs("differential-mismatch.safetensors", run, values);
  }
  auto command = [](std::vector<std::string> parts) {
    std::erase(parts, "");
    return fmt::format("{}", fmt::join(parts, " "));
  };
  std::string oracle_command =
      command({"kiln-opt", oracle_flags, "--run --f64",
               "--inputs differential-oracle.safetensors differential-mismatch.kir"});
  std::string run_command =
      command({"kiln-opt", pipeline_flags, "--run", target,
               "--inputs differential-mismatch.safetensors differential-mismatch.kir"});
  std::fprintf(stderr,
               "differential mismatch: pipeline %s on %s: %s\n\ngraph:\n%s\ninputs:\n%s\n"
               "To reproduce, with the graph and inputs written to the working folder:\n"
               "  %s\n  %s\n",
               pipeline.c_str(), target.c_str(), what.c_str(), text.c_str(), listing.c_str(),
               oracle_command.c_str(), run_command.c_str());
  std::abort();
}

/// One way to run a graph: its pipelines, and the passes that make its oracle.
struct Variant {
  std::vector<std::string> oracle_passes;
  std::vector<std::pair<std::string, std::vector<std::string>>> pipelines;
  PassOptions options;
};

std::string flagsOf(const std::vector<std::string> &passes, const PassOptions &options,
                    const std::string &pipeline) {
  std::vector<std::string> flags;
  if (!pipeline.empty())
    flags.push_back("--pipeline=" + pipeline);
  for (const std::string &p : passes)
    flags.push_back("--" + p);
  for (const auto &[name, value] : options)
    flags.push_back(fmt::format("--{}={}", name, value));
  return fmt::format("{}", fmt::join(flags, " "));
}

} // namespace
} // namespace kiln::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace kiln;
  using namespace kiln::fuzz;
  ByteReader bytes({data, size});
  static const GeneratorOptions options{.labels_in_range =
                                            std::getenv("KILN_FUZZ_LABELS_IN_RANGE") != nullptr};
  GeneratedGraph gen = generateGraph(bytes, options);
  std::unique_ptr<Graph> g;
  try {
    g = parseGraph(gen.text, "differential.kir");
  } catch (const Error &e) {
    std::fprintf(stderr, "the generated graph does not parse: %s\n%s", e.what(), gen.text.c_str());
    std::abort();
  }
  // What an input decodes to, and each run as it starts.
  bool print = std::getenv("KILN_FUZZ_PRINT") != nullptr;
  if (print)
    std::fprintf(stderr, "%s", gen.text.c_str());
  if (!smallEnoughToRun(*g))
    return 0;
  std::map<std::string, Literal> values;
  {
    std::vector<Literal> drawn = test::sampleInputs(*g, gen.sample, gen.seed);
    for (size_t i = 0; i < drawn.size(); ++i) {
      const std::string &name = g->inputs()[i].name;
      if (auto it = gen.labels.find(name); it != gen.labels.end())
        drawn[i].data = it->second;
      values.emplace(name, std::move(drawn[i]));
    }
  }
  std::vector<Variant> variants = {{{}, {{"none", {}}, {"infer", pipelinePasses("infer")}}, {}}};
  if (gen.trainable)
    variants.push_back({{"autodiff", "optimizer"},
                        {{"train", pipelinePasses("train")}},
                        {{"optimizer", "sgd"}, {"lr", "1"}}});
  constexpr CpuKernels kModes[] = {CpuKernels::Auto, CpuKernels::Jit, CpuKernels::OneDnn};
  const std::vector<Target> targets = targetsFor(kModes[bytes.below(3)]);
  for (const Variant &v : variants) {
    std::unique_ptr<Graph> oracle_graph;
    try {
      oracle_graph = withPasses(*g, v.oracle_passes, v.options);
    } catch (const Error &) {
      continue; // nothing to differentiate (an op without a gradient on the way)
    }
    Outcome want = runOracle(*oracle_graph, values, gen.seed + 1);
    std::string oracle_flags = flagsOf(v.oracle_passes, v.options, "");
    auto runs = v.pipelines;
    if (!v.oracle_passes.empty())
      runs.insert(runs.begin(), {"none", {}}); // the oracle's graph on every backend
    for (const auto &[name, passes] : runs) {
      bool none = name == "none";
      std::string flags = none ? oracle_flags : flagsOf({}, v.options, name);
      std::unique_ptr<Graph> run_graph;
      try {
        run_graph = none ? oracle_graph->clone() : withPasses(*g, passes, v.options);
      } catch (const Error &e) {
        mismatch(fmt::format("the pipeline refuses the graph: {}", e.what()), name, "-",
                 oracle_flags, flags, *oracle_graph, *oracle_graph, gen.text, values);
      }
      for (const Target &t : targets) {
        if (print)
          std::fprintf(stderr, "pipeline %s on %s\n", name.c_str(), t.flags.c_str());
        Outcome got = runOn(t, *run_graph, values, gen.seed + 1);
        if (auto d = difference(want, got))
          mismatch(*d, name, t.flags, oracle_flags, flags, *oracle_graph, *run_graph, gen.text,
                   values);
      }
    }
  }
  return 0;
}
