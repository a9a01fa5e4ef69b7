// Host buffers to numpy arrays and back, dicts to bindings, signatures to Python records.

#include "python/convert.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace py = pybind11;

namespace kiln::python {

py::str text(std::string_view utf8) {
  PyObject *s = PyUnicode_DecodeUTF8(utf8.data(), static_cast<Py_ssize_t>(utf8.size()), "replace");
  if (!s)
    throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

py::dtype numpyDType(DType dtype) {
  switch (dtype) {
  case DType::f32:
    return py::dtype::of<float>();
  case DType::f64:
    return py::dtype::of<double>();
  case DType::bf16:
    return py::dtype::of<uint16_t>();
  case DType::i32:
    return py::dtype::of<int32_t>();
  case DType::i64:
    return py::dtype::of<int64_t>();
  case DType::boolean:
    return py::dtype::of<bool>();
  }
  KILN_ASSERT(false, "a dtype without a numpy dtype");
  return py::dtype::of<float>();
}

namespace {

/// The kiln dtype of a numpy dtype, in the order numpyDType maps them.
std::optional<DType> kilnDType(const py::dtype &dtype) {
  for (DType d : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean, DType::bf16})
    if (dtype.equal(numpyDType(d)))
      return d;
  return std::nullopt;
}

} // namespace

HostBuffer toHostBuffer(py::handle value, std::string_view what) {
  py::array array = py::array::ensure(value, py::array::c_style);
  if (!array)
    throw Error({}, fmt::format("{}: expected a numpy array, found a value of type {}", what,
                                std::string(py::str(py::type::handle_of(value).attr("__name__")))));
  std::optional<DType> dtype = kilnDType(array.dtype());
  if (!dtype)
    throw Error({}, fmt::format("{}: numpy dtype {} has no kiln dtype (float32 is f32, float64 "
                                "f64, int32 i32, int64 i64, bool bool, and uint16 holds bf16's "
                                "bits)",
                                what, std::string(py::str(array.dtype()))));
  TensorType type{*dtype, Shape(array.shape(), array.shape() + array.ndim())};
  if (!validShape(type.shape))
    throw Error({}, fmt::format("{}: shape {} has too many elements", what, shapeStr(type.shape)));
  const auto *bytes = static_cast<const std::byte *>(array.data());
  return HostBuffer(type, {bytes, static_cast<size_t>(array.nbytes())});
}

py::array toArray(HostBuffer buffer) {
  KILN_ASSERT(!buffer.empty(), "an empty host buffer has no array");
  auto *owned = new HostBuffer(std::move(buffer));
  py::capsule base(owned, [](void *p) { delete static_cast<HostBuffer *>(p); });
  std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
  return py::array(numpyDType(owned->dtype()), shape, owned->data(), base);
}

Bindings toBindings(const py::dict &values, std::string_view what) {
  Bindings bindings;
  for (auto [key, value] : values) {
    if (!py::isinstance<py::str>(key))
      throw Error(
          {}, fmt::format("{}: names must be strings, found {}", what, std::string(py::repr(key))));
    std::string name = key.cast<std::string>();
    bindings.emplace(name, toHostBuffer(value, fmt::format("{} '{}'", what, name)));
  }
  return bindings;
}

py::dict toDict(Bindings bindings) {
  py::dict out;
  for (auto &[name, buffer] : bindings)
    if (!buffer.empty())
      out[text(name)] = toArray(std::move(buffer));
  return out;
}

std::vector<InputInfo> inputInfos(const Signature &signature) {
  std::vector<InputInfo> infos;
  for (const Signature::Input &in : signature.inputs)
    infos.push_back(
        {in.name, std::string(inputKindName(in.kind)), std::string(dtypeName(in.type.dtype)),
         in.role == InputRole::None ? "" : std::string(inputRoleName(in.role)), in.type.shape});
  return infos;
}

std::vector<OutputInfo> outputInfos(const Signature &signature) {
  std::vector<OutputInfo> infos;
  for (const Signature::Output &out : signature.outputs)
    infos.push_back({out.name, std::string(dtypeName(out.type.dtype)),
                     out.updates ? signature.inputs[*out.updates].name : "", out.type.shape});
  return infos;
}

TensorType typeOf(const InputInfo &input) {
  return TensorType{*parseDType(input.dtype), input.shape};
}

} // namespace kiln::python
