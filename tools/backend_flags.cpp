#include "tools/backend_flags.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernel_choice.h"
#include "backend/kernel/lower.h"
#include "backend/memory_plan.h"

namespace kiln::tools {

void BackendFlags::add(CLI::App &app, std::string default_backend) {
  backend = std::move(default_backend);
  std::vector<std::string> names;
  std::string help = "where the program runs:";
  for (const Backend *b : allBackends()) {
    names.emplace_back(b->name());
    help += fmt::format("\n  {}: {}", b->name(), b->summary());
  }
  app.add_option("--backend", backend, help)->check(CLI::IsMember(names))->capture_default_str();
  app.add_option("--threads", threads,
                 "threads for parallel loops (0, the default: every core this process may use)")
      ->check(CLI::Range(0, 4096));
  app.add_flag("--no-cache", no_cache, "compile afresh: neither read nor write the kernel cache");
  app.add_option("--cpu-kernels", cpu_kernels,
                 "cpu: auto (oneDNN where it measured faster: matmul, layer_norm_grad, softmax, "
                 "attention as GEMMs; JIT loops for the rest), jit or onednn")
      ->check(CLI::IsMember({"auto", "jit", "onednn"}))
      ->capture_default_str();
}

CompileOptions BackendFlags::options() const {
  CompileOptions o;
  o.threads = threads;
  o.use_cache = !no_cache;
  o.cpu_kernels = parseCpuKernels(cpu_kernels);
  return o;
}

std::string kernelsText(const Graph &graph, CpuKernels mode) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, mode);
  return kernel::printKernels(*g, [&](const Node &n) {
    return cpu::chooseKernelPath(n, mode) == cpu::KernelPath::OneDnn ? std::string("oneDNN")
                                                                     : std::string();
  });
}

std::string memoryPlanText(const Graph &graph, CpuKernels mode) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, mode);
  return printMemoryPlan(*g, planMemory(*g));
}

} // namespace kiln::tools
