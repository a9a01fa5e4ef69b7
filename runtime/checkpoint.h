#pragma once
// Checkpoints: named tensors in a safetensors file, checked against what a graph expects.

#include "runtime/host_buffer.h"

#include <map>
#include <string>
#include <vector>

namespace kiln {

/// A tensor a program expects: its name and type.
struct TensorDecl {
  std::string name;
  TensorType type;
};

/// Reads the expected tensors from a safetensors file. Every missing, extra, wrong-dtype and
/// wrong-shape tensor is reported at once in one Error located at the file. With
/// `allow_extra`, tensors the program does not need are ignored instead.
std::map<std::string, HostBuffer> loadCheckpoint(const std::string &path,
                                                 const std::vector<TensorDecl> &expected,
                                                 bool allow_extra = false);
/// Writes named tensors to a safetensors file atomically.
void saveCheckpoint(const std::string &path, const std::map<std::string, HostBuffer> &tensors,
                    const std::map<std::string, std::string> &metadata = {});

} // namespace kiln
