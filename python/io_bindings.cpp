// Safetensors files and kiln's checkpoints as dicts of numpy arrays, and the conversions
// between float32 arrays and bf16's bits.

#include "ir/diagnostics.h"
#include "python/bindings.h"
#include "python/convert.h"
#include "runtime/checkpoint.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace kiln::python {

namespace {

py::dict readTensors(const std::string &path) {
  Bindings tensors;
  for (auto &[name, data] : readSafetensors(path))
    tensors.emplace(name, HostBuffer(TensorType{data.dtype, data.shape}, data.bytes));
  return toDict(std::move(tensors));
}

void writeTensors(const std::string &path, const py::dict &tensors,
                  const std::map<std::string, std::string> &metadata) {
  TensorMap map;
  for (auto &[name, buffer] : toBindings(tensors, "tensor")) {
    auto bytes = buffer.bytes();
    map[name] = TensorData{buffer.dtype(), buffer.shape(), {bytes.begin(), bytes.end()}};
  }
  writeSafetensors(path, map, metadata);
}

void saveTensors(const std::string &path, const py::dict &tensors,
                 const std::map<std::string, std::string> &metadata, std::optional<int64_t> step) {
  Bindings bindings = toBindings(tensors, "tensor");
  if (!step) {
    saveCheckpoint(path, bindings, metadata);
    return;
  }
  if (*step < 0)
    throw Error({}, fmt::format("step: must be at least 0, found {}", *step));
  saveTrainerState(path, TrainerState{std::move(bindings), *step}, metadata);
}

py::dict loadTensors(const std::string &path, const std::optional<std::vector<InputInfo>> &expected,
                     bool allow_extra) {
  if (!expected) {
    checkCheckpointFormat(readSafetensorsMetadata(path), path);
    return readTensors(path);
  }
  std::vector<TensorDecl> decls;
  for (const InputInfo &in : *expected)
    if (in.kind != "data")
      decls.push_back({in.name, typeOf(in)});
  return toDict(loadCheckpoint(path, decls, allow_extra));
}

/// The elements of an array converted, through HostBuffer's rounding, to another dtype.
py::array convert(const py::handle &value, DType from, DType to, const char *what) {
  HostBuffer in = toHostBuffer(value, what);
  if (in.dtype() != from)
    throw Error({}, fmt::format("{}: expected an array of {}, found {}", what,
                                std::string(py::str(numpyDType(from))),
                                std::string(py::str(numpyDType(in.dtype())))));
  HostBuffer out(TensorType{to, in.shape()});
  for (int64_t i = 0; i < in.numElements(); ++i)
    out.setDouble(i, in.getDouble(i));
  return toArray(std::move(out));
}

} // namespace

void bindIo(py::module_ &m) {
  m.def("read_safetensors", &readTensors, py::arg("path"),
        "Every tensor of a safetensors file, by name, as numpy arrays (bf16 as uint16 bits). A "
        "malformed file raises kiln.Error located at the file.");
  m.def("write_safetensors", &writeTensors, py::arg("path"), py::arg("tensors"),
        py::arg("metadata") = std::map<std::string, std::string>{},
        "Writes a dict of name to numpy array as a safetensors file, atomically, with "
        "__metadata__ strings.");
  m.def("read_metadata", &readSafetensorsMetadata, py::arg("path"),
        "The __metadata__ strings of a safetensors file (kiln's checkpoints record kiln.format, "
        "kiln.version, kiln.step and the model there).");
  m.def("save_checkpoint", &saveTensors, py::arg("path"), py::arg("tensors"),
        py::arg("metadata") = std::map<std::string, std::string>{}, py::kw_only(),
        py::arg("step") = py::none(),
        "Writes named tensors as a kiln checkpoint (safetensors with kiln.format and "
        "kiln.version), atomically. With step, also kiln.step, as kiln train saves a run: a "
        "tensor holding NaN or an infinity then raises kiln.Error and nothing is written.");
  m.def("load_checkpoint", &loadTensors, py::arg("path"), py::arg("expected") = py::none(),
        py::arg("allow_extra") = false,
        "The tensors of a checkpoint, by name. With expected (a program's inputs: "
        "executable.inputs, graph.inputs), exactly its param and state inputs, checked: every "
        "missing, extra (unless allow_extra), wrong-dtype and wrong-shape tensor is named in "
        "one kiln.Error.");
  m.def(
      "to_bf16", [](const py::handle &a) { return convert(a, DType::f32, DType::bf16, "to_bf16"); },
      py::arg("array"),
      "A float32 array rounded to bf16 (to nearest even), as the uint16 array of its bits that "
      "kiln takes for bf16.");
  m.def(
      "from_bf16",
      [](const py::handle &a) { return convert(a, DType::bf16, DType::f32, "from_bf16"); },
      py::arg("array"), "The float32 values of bf16 bits held in a uint16 array (exact).");
}

} // namespace kiln::python
