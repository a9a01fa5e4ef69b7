// kiln.Error: the Python exception that every kiln::Error becomes, with kiln's message and its
// location as attributes.

#include "ir/diagnostics.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace py = pybind11;

namespace kiln::python {

namespace {

const char *const kErrorDoc =
    "A mistake in kiln's input: malformed IR, a bad shape, a wrong binding, a corrupt file.\n\n"
    "str(e) is kiln's 'file:line:col: error: message', or the message alone when the error has\n"
    "no location. Attributes: message (without the location), location ('file:line:col', or\n"
    "None), file (or None), line and column (0 when unknown).";

} // namespace

void bindErrors(py::module_ &m) {
  static py::exception<Error> error(m, "Error", PyExc_Exception);
  error.doc() = kErrorDoc;
  error.attr("__module__") = "kiln"; // kiln.Error in tracebacks, where users catch it
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown)
        std::rethrow_exception(thrown);
    } catch (const Error &e) {
      const Location &loc = e.location();
      // An instance, not only a message, so that the handler sees kiln's fields.
      py::object raised = py::reinterpret_borrow<py::object>(error)(
          text(loc.known() ? std::string(e.what()) : e.message()));
      raised.attr("message") = text(e.message());
      raised.attr("location") = loc.known() ? py::object(text(loc.str())) : py::none();
      raised.attr("file") = loc.known() ? py::object(text(loc.file)) : py::none();
      raised.attr("line") = loc.line;
      raised.attr("column") = loc.col;
      PyErr_SetObject(error.ptr(), raised.ptr());
    }
  });
}

} // namespace kiln::python
