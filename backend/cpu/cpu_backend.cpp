#include "backend/cpu/cpu_backend.h"

#include "backend/cpu/cpu_executable.h"
#include "backend/cpu/kernel_choice.h"
#include "backend/kernel/lower.h"

namespace kiln {
namespace {

class CpuBackend final : public Backend {
public:
  std::string_view name() const override { return "cpu"; }
  std::string_view summary() const override {
    return "oneDNN primitives and LLVM-JITted loops for the host CPU; reference kernels for "
           "the other ops";
  }
  bool supports(const Node &node) const override { return kernel::hasLowering(node); }
  std::unique_ptr<Executable> compile(const Graph &graph,
                                      const CompileOptions &options) const override {
    return cpu::compileGraph(graph, options);
  }
};

} // namespace

const Backend &cpuBackend() {
  static const CpuBackend backend;
  return backend;
}

int prepareCpuGraph(Graph &graph, CpuKernels mode) {
  int expanded = cpu::expandChosenAttention(graph, mode);
  // The plan and the schedule must agree on which groups run as one kernel.
  kernel::dropUnlowerableGroups(graph);
  return expanded;
}

} // namespace kiln
