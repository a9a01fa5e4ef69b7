// The list of backends: `--backend` in every tool and the conformance suite read it.

#include "backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/reference/reference_backend.h"

#include <fmt/format.h>

namespace kiln {

const std::vector<const Backend *> &allBackends() {
  static const std::vector<const Backend *> backends = {
      &referenceBackend(),
      &cpuBackend(),
  };
  return backends;
}

const Backend *lookupBackend(std::string_view name) {
  for (const Backend *b : allBackends())
    if (b->name() == name)
      return b;
  return nullptr;
}

const Backend &getBackend(std::string_view name) {
  if (const Backend *b = lookupBackend(name))
    return *b;
  throw Error({}, fmt::format("unknown backend '{}'; known backends: {}", name, backendNames()));
}

std::string backendNames() {
  std::string names;
  for (const Backend *b : allBackends())
    names += fmt::format("{}{}", names.empty() ? "" : ", ", b->name());
  return names;
}

Signature signatureOf(const Graph &graph) {
  Signature sig;
  for (const GraphInput &in : graph.inputs())
    sig.inputs.push_back({in.name, in.kind, in.value->type, in.role});
  for (const GraphOutput &out : graph.outputs()) {
    sig.outputs.push_back({out.name, out.value->type, graph.updatedInput(out)});
  }
  return sig;
}

} // namespace kiln
