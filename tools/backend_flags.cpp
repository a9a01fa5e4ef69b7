#include "tools/backend_flags.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernel_choice.h"
#include "backend/cpu/matmul_post_ops.h"
#include "backend/gpu/spirv/spirv_graph.h"
#include "backend/kernel/lower.h"
#include "backend/memory_plan.h"
#include "tools/tool_support.h"

#include <map>

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
      ->check(between(0, 4096));
  app.add_flag("--no-cache", no_cache, "compile afresh: neither read nor write the kernel cache");
  app.add_option("--cpu-kernels", cpu_kernels,
                 "cpu: auto (oneDNN where it measured faster: matmul, layer_norm_grad, softmax, "
                 "attention as GEMMs; JIT loops for the rest), jit or onednn")
      ->check(CLI::IsMember({"auto", "jit", "onednn"}))
      ->capture_default_str();
}

const Backend &BackendFlags::get() const {
  const Backend &b = getBackend(backend);
  if (std::string why = b.unavailable(); !why.empty())
    throw Error({}, why);
  return b;
}

CompileOptions BackendFlags::options() const {
  CompileOptions o;
  o.threads = threads;
  o.use_cache = !no_cache;
  o.cpu_kernels = parseCpuKernels(cpu_kernels);
  o.communicator = communicator;
  o.overlap_all_reduce = overlap_all_reduce;
  return o;
}

std::string kernelsText(const Graph &graph, CpuKernels mode) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, mode);
  std::map<const Node *, std::string> text;
  std::map<const Node *, size_t> index;
  for (size_t i = 0; i < g->nodes().size(); ++i)
    index[g->nodes()[i].get()] = i;
  for (const cpu::PostOpChain &c : cpu::matmulPostOps(*g, planMemory(*g), mode, 1)) {
    std::vector<std::string> names;
    for (const Node *link : c.links)
      names.emplace_back(link->name());
    text[c.matmul] = fmt::format("oneDNN computes matmul + {}", fmt::join(names, " + "));
    text[c.links.back()] = fmt::format("oneDNN computes {} as post-ops of @matmul_{}",
                                       fmt::join(names, " + "), index.at(c.matmul));
  }
  return kernel::printKernels(*g, [&](const Node &n) {
    if (auto it = text.find(&n); it != text.end())
      return it->second;
    return cpu::chooseKernelPath(n, mode) == cpu::KernelPath::OneDnn
               ? fmt::format("oneDNN computes {}", n.name())
               : std::string();
  });
}

std::string spirvText(const Graph &graph) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, CpuKernels::Jit);
  return spirv::printSpirv(*g);
}

std::string memoryPlanText(const Graph &graph, CpuKernels mode) {
  std::unique_ptr<Graph> g = graph.clone();
  prepareCpuGraph(*g, mode);
  return printMemoryPlan(*g, planMemory(*g));
}

} // namespace kiln::tools
