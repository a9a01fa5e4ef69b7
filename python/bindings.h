#pragma once
// The parts of the kiln Python module, one function per area, each adding its classes and
// functions to the module (module.cpp calls them in order).

#include <pybind11/pybind11.h>

namespace kiln::python {

/// kiln.Error, and the translation of every kiln::Error into it.
void bindErrors(pybind11::module_ &m);
/// kiln.Graph, kiln.parse, the pass list and kiln.run_passes.
void bindGraph(pybind11::module_ &m);
/// kiln.Config, kiln.Model, the Transformer and the programs of compiler/programs.h.
void bindModels(pybind11::module_ &m);
/// kiln.compile, kiln.Executable, kiln.SyntheticTask.
void bindPrograms(pybind11::module_ &m);
/// Safetensors files, checkpoints and the bf16 conversions.
void bindIo(pybind11::module_ &m);

} // namespace kiln::python
