// kiln.Graph (text in and out, inputs and outputs, op counts), kiln.parse, and the passes:
// their names, the named pipelines, and kiln.run_passes.

#include "backend/backend.h"
#include "ir/diagnostics.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"
#include "python/bindings.h"
#include "python/convert.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <sstream>

namespace py = pybind11;

namespace kiln::python {

namespace {

/// The text of a graph with a printer option given by name.
std::string graphText(const Graph &g, const std::string &locations, int64_t elide) {
  std::optional<Locations> mode = locationsNamed(locations);
  if (!mode)
    throw Error(
        {}, fmt::format("locations: expected none, user or full, found {}", quoteBytes(locations)));
  if (elide < 0)
    throw Error({},
                fmt::format("elide_constants_larger_than: must be at least 0, found {}", elide));
  return printGraph(g, PrintOptions{*mode, elide});
}

/// The pass names of `passes`: a comma-separated string or a list of names.
std::string passList(const py::handle &passes) {
  if (py::isinstance<py::str>(passes))
    return passes.cast<std::string>();
  std::string list;
  for (py::handle name : passes) {
    if (!py::isinstance<py::str>(name))
      throw Error({}, fmt::format("passes: expected names of passes, found {}",
                                  std::string(py::repr(name))));
    list += (list.empty() ? "" : ",") + name.cast<std::string>();
  }
  return list;
}

void runPasses(Graph &g, const py::object &passes, const std::optional<std::string> &pipeline,
               const std::map<std::string, py::object> &options, bool verify_each,
               const std::string &precision) {
  if (passes.is_none() == !pipeline)
    throw Error({}, "run_passes: give either passes (names) or pipeline (infer or train)");
  std::string names;
  if (pipeline) {
    for (const std::string &name : pipelinePasses(*pipeline, precision))
      names += (names.empty() ? "" : ",") + name;
  } else {
    names = passList(passes);
  }
  PassOptions pass_options;
  for (const auto &[name, value] : options)
    pass_options[name] =
        py::isinstance<py::str>(value) ? value.cast<std::string>() : std::string(py::str(value));
  PassManagerOptions pm_options;
  pm_options.verify_each = verify_each;
  PassManager pm(pm_options);
  pm.addPipeline(names, pass_options);
  std::ostringstream dump;
  pm.run(g, dump);
}

std::map<std::string, int64_t> opCounts(const Graph &g) {
  std::map<std::string, int64_t> counts;
  for (const auto &node : g.nodes())
    ++counts[std::string(node->name())];
  return counts;
}

py::tuple shapeTuple(const Shape &shape) { return py::tuple(py::cast(shape)); }

} // namespace

void bindGraph(py::module_ &m) {
  py::class_<InputInfo>(m, "Input", "One input of a graph or program.")
      .def_readonly("name", &InputInfo::name, "The input's name, as bindings name it.")
      .def_readonly("kind", &InputInfo::kind, "'data' (fed each call), 'param' or 'state'.")
      .def_readonly("dtype", &InputInfo::dtype, "kiln's dtype: f32, f64, bf16, i32, i64, bool.")
      .def_property_readonly(
          "shape", [](const InputInfo &i) { return shapeTuple(i.shape); }, "The dimensions.")
      .def_property_readonly(
          "role",
          [](const InputInfo &i) { return i.role.empty() ? py::object(py::none()) : text(i.role); },
          "What drivers bind it by: source, target, step, seed, or None.")
      .def(
          "zeros", [](const InputInfo &i) { return toArray(HostBuffer(typeOf(i))); },
          "A zero-filled numpy array of the input's type (bf16 as uint16 bits).")
      .def("__repr__", [](const InputInfo &i) {
        return fmt::format("Input('{}', {}, {}{}{})", i.name, i.kind, i.dtype, shapeStr(i.shape),
                           i.role.empty() ? "" : ", role " + i.role);
      });
  py::class_<OutputInfo>(m, "Output", "One output of a graph or program.")
      .def_readonly("name", &OutputInfo::name, "The output's name.")
      .def_readonly("dtype", &OutputInfo::dtype, "kiln's dtype.")
      .def_property_readonly(
          "shape", [](const OutputInfo &o) { return shapeTuple(o.shape); }, "The dimensions.")
      .def_property_readonly(
          "updates",
          [](const OutputInfo &o) {
            return o.updates.empty() ? py::object(py::none()) : text(o.updates);
          },
          "The param or state input whose next value this is, or None.")
      .def("__repr__", [](const OutputInfo &o) {
        return fmt::format("Output('{}', {}{}{})", o.name, o.dtype, shapeStr(o.shape),
                           o.updates.empty() ? "" : ", updates " + o.updates);
      });

  py::class_<Graph, std::shared_ptr<Graph>>(
      m, "Graph",
      "A kiln graph: typed SSA nodes with named inputs and outputs. str(graph) is its text "
      "form, which kiln.parse reads back.")
      .def_property_readonly(
          "name", [](const Graph &g) { return text(g.name()); }, "The graph's name (@name).")
      .def_property_readonly(
          "inputs", [](const Graph &g) { return inputInfos(signatureOf(g)); },
          "The inputs, in order, as kiln.Input records.")
      .def_property_readonly(
          "outputs", [](const Graph &g) { return outputInfos(signatureOf(g)); },
          "The outputs, in order, as kiln.Output records.")
      .def(
          "op_counts", [](const Graph &g) { return opCounts(g); },
          "How many nodes apply each op, by op name.")
      .def(
          "__len__", [](const Graph &g) { return g.nodes().size(); }, "The number of nodes.")
      .def(
          "text",
          [](const Graph &g, const std::string &locations, int64_t elide) {
            return text(graphText(g, locations, elide));
          },
          py::arg("locations") = "user", py::arg("elide_constants_larger_than") = 0,
          "The text form: locations 'none', 'user' (the default, as str() prints) or 'full'; "
          "constants with more values than elide_constants_larger_than printed as a hash (such "
          "a text does not parse back; 0 prints every value).")
      .def(
          "__str__", [](const Graph &g) { return text(printGraph(g)); }, "The text form.")
      .def("__repr__",
           [](const Graph &g) {
             return fmt::format("<kiln.Graph @{}: {} inputs, {} nodes, {} outputs>", g.name(),
                                g.inputs().size(), g.nodes().size(), g.outputs().size());
           })
      .def(
          "copy", [](const Graph &g) { return std::shared_ptr<Graph>(g.clone()); },
          "An independent copy (passes change a graph in place).")
      .def("verify", &verifyGraph, "Checks the graph's invariants; raises kiln.Error if broken.");

  m.def(
      "parse",
      [](const std::string &source, const std::string &filename) {
        return std::shared_ptr<Graph>(parseGraph(source, filename));
      },
      py::arg("text"), py::arg("filename") = "<string>",
      "Parses a graph's text form. A malformed text raises kiln.Error located at filename, line "
      "and column.");

  m.def(
      "pass_names",
      [] {
        std::vector<std::string> names;
        for (const PassInfo &p : allPasses())
          names.emplace_back(p.name);
        return names;
      },
      "The names of every pass, in the pass list's order (kiln-opt's --NAME flags).");
  m.def("pipeline_names", &pipelineNames, "The named pipelines: infer, train.");
  m.def("pipeline_passes", &pipelinePasses, py::arg("pipeline"), py::arg("precision") = "f32",
        "The pass names of a named pipeline, for a precision (f32 or bf16).");
  m.def("run_passes", &runPasses, py::arg("graph"), py::arg("passes") = py::none(), py::kw_only(),
        py::arg("pipeline") = py::none(), py::arg("options") = std::map<std::string, py::object>{},
        py::arg("verify_each") = true, py::arg("precision") = "f32",
        "Runs passes on the graph, in place: passes as a comma-separated string or a list of "
        "names ('canonicalize,cse' or ['cse', 'dce']), or a named pipeline (pipeline='infer'). "
        "options are the passes' options as kiln-opt's flags give them ({'wrt': 'w'}). The "
        "graph is verified after each pass; a failure raises kiln.Error naming the pass.");
}

} // namespace kiln::python
