#include "runtime/checkpoint.h"

#include "ir/diagnostics.h"
#include "runtime/safetensors.h"

#include <fmt/format.h>

namespace kiln {

std::map<std::string, HostBuffer>
loadCheckpoint(const std::string &path, const std::vector<TensorDecl> &expected, bool allow_extra) {
  TensorMap file = readSafetensors(path);
  std::map<std::string, HostBuffer> out;
  std::vector<std::string> problems;
  for (const TensorDecl &d : expected) {
    auto it = file.find(d.name);
    if (it == file.end()) {
      problems.push_back(fmt::format("missing tensor '{}' ({})", d.name, d.type.str()));
      continue;
    }
    TensorType have{it->second.dtype, it->second.shape};
    if (have.dtype != d.type.dtype && have.shape != d.type.shape)
      problems.push_back(
          fmt::format("tensor '{}' is {}, expected {}", d.name, have.str(), d.type.str()));
    else if (have.dtype != d.type.dtype)
      problems.push_back(fmt::format("tensor '{}' has dtype {}, expected {}", d.name,
                                     dtypeName(have.dtype), dtypeName(d.type.dtype)));
    else if (have.shape != d.type.shape)
      problems.push_back(fmt::format("tensor '{}' has shape {}, expected {}", d.name,
                                     shapeStr(have.shape), shapeStr(d.type.shape)));
    else
      out.emplace(d.name, HostBuffer(have, it->second.bytes));
  }
  if (!allow_extra)
    for (const auto &[name, t] : file) {
      bool wanted = false;
      for (const TensorDecl &d : expected)
        wanted |= d.name == name;
      if (!wanted)
        problems.push_back(
            fmt::format("unexpected tensor '{}' ({})", name, TensorType{t.dtype, t.shape}.str()));
    }
  if (!problems.empty()) {
    std::string msg = fmt::format("{} problem{} in the checkpoint:", problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (const std::string &p : problems)
      msg += "\n  " + p;
    Location loc;
    loc.file = path;
    throw Error(loc, msg);
  }
  return out;
}

void saveCheckpoint(const std::string &path, const std::map<std::string, HostBuffer> &tensors,
                    const std::map<std::string, std::string> &metadata) {
  TensorMap file;
  for (const auto &[name, t] : tensors)
    file[name] = TensorData{t.dtype(), t.shape(), {t.bytes().begin(), t.bytes().end()}};
  writeSafetensors(path, file, metadata);
}

} // namespace kiln
