#include "runtime/checkpoint.h"

#include "ir/diagnostics.h"
#include "runtime/safetensors.h"

#include <charconv>
#include <fmt/format.h>

namespace kiln {

void checkCheckpointFormat(const std::map<std::string, std::string> &metadata,
                           const std::string &path) {
  auto it = metadata.find("kiln.format");
  if (it == metadata.end())
    return;
  int format = 0;
  auto [end, ec] =
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), format);
  Location loc;
  loc.file = path;
  if (ec != std::errc() || end != it->second.data() + it->second.size() || format < 1)
    throw Error(loc,
                fmt::format("kiln.format '{}' in the metadata is not a format number", it->second));
  if (format > kCheckpointFormat)
    throw Error(loc, fmt::format("written in checkpoint format {} by a newer kiln; this kiln {} "
                                 "reads format {} and older",
                                 format, kKilnVersion, kCheckpointFormat));
}

std::map<std::string, HostBuffer>
loadCheckpoint(const std::string &path, const std::vector<TensorDecl> &expected, bool allow_extra) {
  TensorMap file = readSafetensors(path);
  checkCheckpointFormat(readSafetensorsMetadata(path), path);
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
  std::map<std::string, std::string> described = metadata;
  described["kiln.format"] = std::to_string(kCheckpointFormat);
  described["kiln.version"] = kKilnVersion;
  writeSafetensors(path, file, described);
}

} // namespace kiln
