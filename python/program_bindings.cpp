// kiln.compile and kiln.Executable (run with numpy arrays in and out), and kiln.SyntheticTask,
// the copy and reverse tasks kiln train trains on.

#include "backend/backend.h"
#include "ir/diagnostics.h"
#include "python/bindings.h"
#include "python/convert.h"
#include "runtime/random_key.h"
#include "runtime/tasks.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <mutex>

namespace py = pybind11;

namespace kiln::python {

namespace {

/// A compiled program, run by one Python thread at a time (an Executable is not reentrant).
struct Program {
  std::unique_ptr<Executable> executable;
  std::string backend;
  std::mutex running;

  /// Runs the program on named inputs; returns every output by name.
  py::dict run(const py::dict &inputs) {
    Bindings bindings = toBindings(inputs, "input");
    checkNames(bindings);
    {
      // The GIL goes first, then the lock: a thread that waits for the lock holds no GIL.
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(running);
      executable->run(bindings);
    }
    const Signature &sig = executable->signature();
    Bindings outputs;
    for (const Signature::Output &out : sig.outputs) {
      // An output that updates an input was written over that input's buffer.
      const std::string &bound = out.updates ? sig.inputs[*out.updates].name : out.name;
      outputs[out.name] = std::move(bindings.at(bound));
    }
    return toDict(std::move(outputs));
  }

  /// Refuses a name that is no input when every input is bound (Executable::run reports the
  /// names it does not know only beside the missing ones, which they most likely misspell).
  void checkNames(const Bindings &bindings) const {
    const Signature &sig = executable->signature();
    std::string unknown, inputs;
    for (const auto &[name, buffer] : bindings)
      if (!sig.findInput(name))
        unknown += fmt::format("{}'{}'", unknown.empty() ? "" : ", ", name);
    for (const Signature::Input &in : sig.inputs) {
      if (!bindings.count(in.name))
        return;
      inputs += fmt::format("{}'{}' ({})", inputs.empty() ? "" : ", ", in.name, in.type.str());
    }
    if (!unknown.empty())
      throw Error(
          {}, fmt::format("bound, but not inputs: {}; the program's inputs: {}", unknown, inputs));
  }
};

std::unique_ptr<Program> compileGraph(const Graph &graph, const std::string &backend, int threads,
                                      bool use_cache, const std::string &cpu_kernels, bool f64,
                                      bool profile) {
  if (threads < 0 || threads > 4096)
    throw Error({}, fmt::format("threads: must lie in [0, 4096], found {}", threads));
  CompileOptions options;
  options.threads = threads;
  options.use_cache = use_cache;
  options.cpu_kernels = parseCpuKernels(cpu_kernels);
  options.promote_f64 = f64;
  options.profile = profile;
  const Backend &b = getBackend(backend);
  auto program = std::make_unique<Program>();
  program->executable = b.compile(graph, options);
  program->backend = std::string(b.name());
  return program;
}

SyntheticTask makeTask(const std::string &kind, int64_t vocab, int64_t batch, int64_t src_len,
                       int64_t tgt_len, uint64_t seed, int64_t first_token, int64_t pad,
                       int64_t eos, int64_t min_len) {
  for (auto [what, v] : {std::pair{"vocab", vocab},
                         {"batch", batch},
                         {"src_len", src_len},
                         {"tgt_len", tgt_len},
                         {"min_len", min_len}})
    if (v < 1)
      throw Error({}, fmt::format("{}: must be positive, found {}", what, v));
  for (auto [what, v] : {std::pair{"first_token", first_token}, {"pad", pad}, {"eos", eos}})
    if (v < 0)
      throw Error({}, fmt::format("{}: must be at least 0, found {}", what, v));
  if (!validShape({batch, std::max(src_len, tgt_len)}))
    throw Error({}, fmt::format("batch {} of length {} has too many tokens", batch,
                                std::max(src_len, tgt_len)));
  SyntheticTask task;
  task.kind = SyntheticTask::parseKind(kind);
  task.vocab = vocab, task.batch = batch, task.src_len = src_len, task.tgt_len = tgt_len;
  task.seed = seed, task.first_token = first_token, task.pad = pad, task.eos = eos;
  task.min_len = min_len;
  task.batchAt(1); // refuses lengths and vocabularies that cannot make a batch
  return task;
}

} // namespace

void bindPrograms(py::module_ &m) {
  m.def(
      "backend_names",
      [] {
        std::vector<std::string> names;
        for (const Backend *b : allBackends())
          names.emplace_back(b->name());
        return names;
      },
      "The backends kiln.compile knows, as --backend lists them.");

  py::class_<Program>(m, "Executable",
                      "A compiled program. run() takes numpy arrays by input name and returns "
                      "numpy arrays by output name.")
      .def_readonly("backend", &Program::backend, "The backend it was compiled for.")
      .def_property_readonly(
          "inputs", [](const Program &p) { return inputInfos(p.executable->signature()); },
          "The inputs, in order, as kiln.Input records.")
      .def_property_readonly(
          "outputs", [](const Program &p) { return outputInfos(p.executable->signature()); },
          "The outputs, in order, as kiln.Output records.")
      .def("run", &Program::run, py::arg("inputs"),
           "Runs the program on a dict of input name to numpy array (or anything numpy.asarray "
           "takes: a Python int is int64, a float float64) and returns a dict of output name to "
           "a new numpy array. Each input must have the program's dtype and shape (bf16 as "
           "uint16 bits, see kiln.to_bf16); a missing, unknown or mistyped binding raises "
           "kiln.Error naming it. The arrays passed in are never changed: outputs that update "
           "an input (a train step's parameters) come back as outputs of their own.")
      .def("__call__", &Program::run, py::arg("inputs"), "The same as run().")
      .def(
          "statistics",
          [](const Program &p) {
            std::map<std::string, int64_t> stats;
            for (const auto &[name, value] : p.executable->statistics())
              stats[name] = value;
            return stats;
          },
          "What compilation produced (kernels, fallbacks to reference kernels, arena bytes), by "
          "name, as --pass-statistics prints it.")
      .def("__repr__", [](const Program &p) {
        const Signature &sig = p.executable->signature();
        return fmt::format("<kiln.Executable for {}: {} inputs, {} outputs>", p.backend,
                           sig.inputs.size(), sig.outputs.size());
      });

  m.def("compile", &compileGraph, py::arg("graph"), py::arg("backend") = "cpu", py::kw_only(),
        py::arg("threads") = 0, py::arg("use_cache") = true, py::arg("cpu_kernels") = "auto",
        py::arg("f64") = false, py::arg("profile") = false,
        "Compiles a graph for a backend (kiln.backend_names(): reference, cpu, vulkan, ...) into "
        "a kiln.Executable. threads: for parallel loops, 0 for every core; use_cache: reuse "
        "compiled kernels (kiln's kernel cache); cpu_kernels: 'auto', 'jit' or 'onednn'; f64: "
        "the reference backend computes f32 values in f64. The executable holds its own copy of "
        "the graph.");

  py::class_<SyntheticTask>(m, "SyntheticTask",
                            "kiln train's synthetic tasks: seeded random token sequences to copy "
                            "or to reverse; a batch depends only on the seed and the step.")
      .def(py::init(&makeTask), py::arg("kind") = "copy", py::kw_only(), py::arg("vocab") = 1000,
           py::arg("batch") = 16, py::arg("src_len") = 10, py::arg("tgt_len") = 10,
           py::arg("seed") = 0, py::arg("first_token") = 4, py::arg("pad") = 0, py::arg("eos") = 2,
           py::arg("min_len") = 1,
           "kind: 'copy' or 'reverse'. Content tokens are drawn from [first_token, vocab) "
           "(kiln train draws from the first min(24, vocab) ids unless --task-vocab says "
           "otherwise), lengths from [min_len, min(src_len, tgt_len) - 1], then EOS and PAD.")
      .def(
          "batch",
          [](const SyntheticTask &task, int64_t step) {
            Batch b = task.batchAt(step);
            return py::make_tuple(toArray(std::move(b.src)), toArray(std::move(b.tgt)));
          },
          py::arg("step"), "The batch of a step (from 1): (src, tgt), int64 [batch, length].");

  m.def(
      "dropout_key",
      [](uint64_t seed, int64_t step) { return toArray(keyBuffer(dropoutKey(seed, step))); },
      py::arg("seed"), py::arg("step"),
      "The key kiln train binds to a training step's 'seed' input (with dropout) at a step "
      "under a seed: the step folded into the seed's dropout stream, as an int32[2] array.");
}

} // namespace kiln::python
