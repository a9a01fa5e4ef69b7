#pragma once
// Conversions between kiln's values and Python's: host buffers and numpy arrays, bindings and
// dicts, kiln's text and Python strings, signatures and kiln.Input / kiln.Output records.

#include "runtime/executable.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace kiln::python {

/// A Python str of UTF-8 text; bytes that are not UTF-8 become U+FFFD instead of an exception.
pybind11::str text(std::string_view utf8);

/// The numpy dtype that holds a kiln dtype: float32, float64, int32, int64, bool, and uint16 for
/// bf16 (its raw bits; numpy has no bfloat16 without ml_dtypes).
pybind11::dtype numpyDType(DType dtype);

/// A host buffer holding a copy of `value`: a numpy array of any layout, or anything
/// numpy.asarray takes (a Python int becomes int64, a float float64). An Error naming `what`
/// ("input 'x'") when its numpy dtype has no kiln dtype.
HostBuffer toHostBuffer(pybind11::handle value, std::string_view what);

/// A numpy array that takes the buffer over (its bytes are not copied).
pybind11::array toArray(HostBuffer buffer);

/// Bindings from a dict of name to array, each converted by toHostBuffer.
Bindings toBindings(const pybind11::dict &values, std::string_view what);

/// A dict of name to array that takes the buffers over.
pybind11::dict toDict(Bindings bindings);

/// One input of a program, as Python sees it (kiln.Input).
struct InputInfo {
  std::string name, kind, dtype, role;
  Shape shape;
};

/// One output of a program, as Python sees it (kiln.Output).
struct OutputInfo {
  std::string name, dtype, updates;
  Shape shape;
};

/// The inputs of a signature.
std::vector<InputInfo> inputInfos(const Signature &signature);
/// The outputs of a signature.
std::vector<OutputInfo> outputInfos(const Signature &signature);

/// The tensor type that an input's record describes.
TensorType typeOf(const InputInfo &input);

} // namespace kiln::python
