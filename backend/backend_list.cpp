// The list of backends: `--backend` in every tool and the conformance suite read it.

#include "backend/backend.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/gpu/cuda/cuda_backend.h"
#include "backend/gpu/vulkan/vulkan_backend.h"
#include "backend/reference/reference_backend.h"

#include <fmt/format.h>

namespace kiln {

const std::vector<const Backend *> &allBackends() {
  static const std::vector<const Backend *> backends = {
      &referenceBackend(),
      &cpuBackend(),
      &vulkanBackend(),
      &cudaBackend(),
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

std::string_view cpuKernelsName(CpuKernels k) {
  switch (k) {
  case CpuKernels::Auto:
    return "auto";
  case CpuKernels::Jit:
    return "jit";
  case CpuKernels::OneDnn:
    return "onednn";
  }
  return "?";
}

CpuKernels parseCpuKernels(std::string_view name) {
  for (CpuKernels k : {CpuKernels::Auto, CpuKernels::Jit, CpuKernels::OneDnn})
    if (cpuKernelsName(k) == name)
      return k;
  throw Error({}, fmt::format("--cpu-kernels takes auto, jit or onednn, found '{}'", name));
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
