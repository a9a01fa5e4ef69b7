#pragma once
// Reading and writing safetensors files: the checkpoint format of Hugging Face.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON that give each tensor's
// dtype, shape and byte range, then the tensors' bytes. A malformed file is a user error: every
// function here throws kiln::Error, located at the file, and nothing else.

#include "ir/types.h"

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace kiln {

/// One tensor of a safetensors file: dtype, shape and little-endian element bytes.
struct TensorData {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<std::byte> bytes;
};

/// Tensors by name, ordered by name.
using TensorMap = std::map<std::string, TensorData>;

/// Parses the bytes of a safetensors file; `source` names it in errors.
TensorMap parseSafetensors(std::span<const std::byte> file, const std::string &source);

/// Reads a safetensors file.
TensorMap readSafetensors(const std::string &path);

/// The bytes of a safetensors file holding these tensors (and optional __metadata__ strings).
std::vector<std::byte>
serializeSafetensors(const TensorMap &tensors,
                     const std::map<std::string, std::string> &metadata = {});

/// Writes a safetensors file atomically: a temporary file in the same folder, then rename.
void writeSafetensors(const std::string &path, const TensorMap &tensors,
                      const std::map<std::string, std::string> &metadata = {});

/// Reads the __metadata__ strings of a safetensors file (empty when it has none).
std::map<std::string, std::string> readSafetensorsMetadata(const std::string &path);

} // namespace kiln
