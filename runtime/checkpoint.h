#pragma once
// Checkpoints: named tensors in a safetensors file, checked against what a graph expects.

#include "kiln/version.h"
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

/// The version of kiln, as `kiln version` prints it and checkpoints record it (kiln.version).
inline constexpr const char *kKilnVersion = KILN_VERSION_STRING;
/// The layout of kiln's checkpoints, recorded as kiln.format. A file without it is a plain
/// safetensors file (from PyTorch, say); one with a larger number is refused.
inline constexpr int kCheckpointFormat = 1;

/// Refuses a file written in a checkpoint format newer than this kiln reads, with an Error at
/// `path` naming both formats.
void checkCheckpointFormat(const std::map<std::string, std::string> &metadata,
                           const std::string &path);

/// Reads the expected tensors from a safetensors file (checkCheckpointFormat first). Every missing,
/// extra, wrong-dtype and wrong-shape tensor is reported at once in one Error located at the file.
/// With `allow_extra`, tensors the program does not need are ignored instead.
std::map<std::string, HostBuffer> loadCheckpoint(const std::string &path,
                                                 const std::vector<TensorDecl> &expected,
                                                 bool allow_extra = false);
/// Writes named tensors to a safetensors file atomically, with the metadata, kiln.format and
/// kiln.version.
void saveCheckpoint(const std::string &path, const std::map<std::string, HostBuffer> &tensors,
                    const std::map<std::string, std::string> &metadata = {});

} // namespace kiln
