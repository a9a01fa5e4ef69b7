// The entry point of the extension kiln._kiln, which python/kiln/__init__.py re-exports as the
// package kiln.

#include "kiln/version.h"
#include "python/bindings.h"

PYBIND11_MODULE(_kiln, m) {
  m.doc() = "kiln: a compiler for transformer models (graphs, passes, backends, checkpoints)";
  m.attr("__version__") = KILN_VERSION_STRING;
  kiln::python::bindErrors(m);
  kiln::python::bindGraph(m);
  kiln::python::bindModels(m);
  kiln::python::bindPrograms(m);
  kiln::python::bindIo(m);
}
