// `kiln emit --target ptx|llvm|spirv|kernels`. The targets are one table: a new code generator
// adds a row with its name, its file extensions and the function that compiles a stage's
// kernels.

#include "tools/emit_command.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/gpu/ptx/ptx.h"
#include "backend/gpu/spirv/spirv_kernel.h"
#include "backend/kernel/schedule.h"
#include "backend/memory_plan.h"
#include "compiler/programs.h"
#include "ir/printer.h"
#include "tools/tool_support.h"

#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

namespace kiln::tools {
namespace {

/// What a target makes of a stage's kernels: one text per kernel (or one for all with
/// --single-module), and a launch configuration per kernel where the target has one.
struct Emitted {
  std::vector<std::string> texts;
  std::vector<std::string> binaries; ///< a binary beside each text, for targets that have one
  std::optional<std::string> module;
  std::vector<std::optional<gpu::PtxLaunch>> launches;
};

/// One target of kiln emit.
struct EmitTarget {
  std::string name;      ///< --target's value
  std::string summary;   ///< its line in --help
  std::string extension; ///< of its files
  /// Compiles the kernels; `single` asks for one module of them all.
  Emitted (*emit)(const std::vector<kernel::Kernel> &kernels, const std::string &arch, bool single);
  std::string binary_extension = {}; ///< of its binary files, for targets that write them too
  bool takes_arch = false;           ///< whether --arch chooses its GPU
  bool single_module = true;         ///< whether --single-module can put every kernel in one file
};

Emitted emitNvptx(const std::vector<kernel::Kernel> &kernels, const std::string &arch, bool single,
                  bool ptx) {
  gpu::PtxModule m = gpu::emitPtx(kernels, {.arch = arch, .separate = !single});
  Emitted e;
  if (single)
    e.module = ptx ? m.ptx : m.llvm_ir;
  for (gpu::PtxKernel &k : m.kernels) {
    if (!single)
      e.texts.push_back(ptx ? std::move(k.ptx) : std::move(k.llvm_ir));
    e.launches.emplace_back(k.launch);
  }
  return e;
}

Emitted emitSpirv(const std::vector<kernel::Kernel> &kernels, const std::string &, bool) {
  Emitted e;
  for (const kernel::Kernel &k : kernels) {
    spirv::SpirvKernel s = spirv::compileSpirv(k);
    e.texts.push_back(std::move(s.assembly));
    e.binaries.emplace_back(reinterpret_cast<const char *>(s.binary.data()),
                            s.binary.size() * sizeof(uint32_t));
    e.launches.emplace_back(gpu::PtxLaunch{
        .grid = s.workgroups, .block = s.workgroup_size, .shared_bytes = s.shared_bytes});
  }
  return e;
}

Emitted emitKernelIr(const std::vector<kernel::Kernel> &kernels, const std::string &, bool single) {
  Emitted e;
  std::string all;
  for (const kernel::Kernel &k : kernels) {
    e.texts.push_back(kernel::print(k));
    all += e.texts.back();
    e.launches.emplace_back();
  }
  if (single) {
    e.module = all;
    e.texts.clear();
  }
  return e;
}

const std::vector<EmitTarget> &targets() {
  static const std::vector<EmitTarget> t = {
      {"ptx", "PTX for NVIDIA GPUs through LLVM's NVPTX target (--arch)", ".ptx",
       [](const std::vector<kernel::Kernel> &k, const std::string &arch, bool single) {
         return emitNvptx(k, arch, single, true);
       },
       "", true},
      {"llvm", "the NVPTX LLVM IR (optimised) that the ptx target compiles", ".ll",
       [](const std::vector<kernel::Kernel> &k, const std::string &arch, bool single) {
         return emitNvptx(k, arch, single, false);
       },
       "", true},
      {"spirv",
       "SPIR-V for Vulkan compute, as assembly (validated) and as the optimised binary that "
       "--backend vulkan runs",
       ".spvasm", emitSpirv, ".spv", false, false},
      {"kernels", "the kernel IR, as kiln dump --level kernels --cpu-kernels jit prints it",
       ".kernel", emitKernelIr},
  };
  return t;
}

const EmitTarget &findTarget(const std::string &name) {
  for (const EmitTarget &t : targets())
    if (t.name == name)
      return t;
  std::vector<std::string> names;
  for (const EmitTarget &t : targets())
    names.push_back(t.name);
  throw Error(
      {}, fmt::format("--target: unknown target '{}'; known: {}", name, fmt::join(names, ", ")));
}

/// A folder to write into, made when missing; an Error when it is a file or cannot be made.
void makeFolder(const std::string &dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw Error({}, fmt::format("-o {}: not a folder", dir));
  fs::create_directories(dir, ec);
  if (ec)
    throw Error({}, fmt::format("-o {}: cannot make the folder: {}", dir, ec.message()));
}

nlohmann::json typeJson(const TensorType &t) {
  return {{"dtype", std::string(dtypeName(t.dtype))}, {"shape", t.shape}};
}

/// Where a value's bytes are while the graph runs.
nlohmann::json homeJson(const Graph &g, const MemoryPlan &plan, const Value *v) {
  if (!v->def)
    return {{"home", "input"}, {"input", g.inputs()[v->index].name}};
  const PlannedValue *pv = plan.find(v);
  if (!pv)
    return {{"home", "none"}};
  switch (pv->home) {
  case ValueHome::Arena:
    return {{"home", "arena"}, {"arena", pv->arena}, {"offset", pv->offset}, {"size", pv->size}};
  case ValueHome::Output:
    return {{"home", "output"}, {"output", g.outputs()[*pv->output].name}, {"size", pv->size}};
  case ValueHome::Input:
    return {{"home", "input"}, {"input", g.inputs()[*pv->input].name}, {"size", pv->size}};
  }
  return {};
}

std::string roleName(kernel::Role r) {
  switch (r) {
  case kernel::Role::Read:
    return "read";
  case kernel::Role::Write:
    return "write";
  case kernel::Role::Constant:
    return "constant";
  case kernel::Role::Local:
    return "local";
  }
  return "";
}

/// A graph's kernels as kiln emit writes them.
struct StageKernels {
  std::unique_ptr<Graph> graph; ///< the graph that the cpu backend runs with jit kernels
  MemoryPlan plan;
  std::vector<kernel::ScheduledKernel> schedule;
  std::vector<kernel::Kernel> kernels; ///< those of the schedule that lowered, in its order
};

StageKernels stageKernels(const Graph &graph) {
  StageKernels s;
  s.graph = graph.clone();
  prepareCpuGraph(*s.graph, CpuKernels::Jit);
  s.plan = planMemory(*s.graph);
  s.schedule = kernel::scheduleKernels(*s.graph);
  for (const kernel::ScheduledKernel &k : s.schedule)
    if (k.kernel)
      s.kernels.push_back(*k.kernel);
  return s;
}

} // namespace

std::string ptxText(const Graph &graph) { return gpu::emitPtx(stageKernels(graph).kernels).ptx; }

CLI::App *EmitCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "emit", "write a stage's kernels out for inspection, one file per kernel, and "
              "schedule.json (the kernels in launch order, their buffers and launches)");
  model.add(*cmd);
  shape.add(*cmd);
  std::string help = "what to write:";
  for (const EmitTarget &t : targets())
    help += fmt::format("\n  {}: {} (NAME{}{})", t.name, t.summary, t.extension,
                        t.binary_extension.empty() ? "" : " and NAME" + t.binary_extension);
  cmd->add_option("--target", target, help)->required();
  cmd->add_option("--stage", stage,
                  "the program, as kiln dump names it: forward or loss (as recorded), fused, "
                  "train, encoder or decode-step")
      ->check(CLI::IsMember(stageNames()))
      ->capture_default_str();
  cmd->add_option("--arch", arch, "ptx and llvm: the GPU, sm_90 or sm_80")
      ->check(CLI::IsMember(gpu::ptxArchitectures()))
      ->capture_default_str();
  addPrecisionFlag(*cmd, precision);
  cmd->add_flag("--single-module", single_module,
                "one file of every kernel, module.<ext>, instead of one file per kernel");
  cmd->add_option("-o,--output", output, "the folder to write into (made when missing)")
      ->required();
  return cmd;
}

int EmitCommand::run() const {
  const EmitTarget &t = findTarget(target);
  bool compiled = stage != "forward" && stage != "loss";
  if (precision != "f32" && !compiled)
    throw Error({}, "--precision applies to --stage fused, train, encoder and decode-step only");
  if (single_module && !t.single_module)
    throw Error({}, fmt::format("--single-module: {} writes one module per kernel (a Vulkan "
                                "shader module holds one entry point, main)",
                                t.name));
  makeFolder(output);
  TransformerConfig cfg = model.resolve();
  BuiltModel m = buildStage(cfg, stage, shape.opts, withPrecision("default", precision));
  // Every node a kernel of its own: no oneDNN primitives.
  StageKernels sk = stageKernels(*m.graph);
  const Graph *g = sk.graph.get();
  const MemoryPlan &plan = sk.plan;
  const std::vector<kernel::ScheduledKernel> &schedule = sk.schedule;
  const std::vector<kernel::Kernel> &kernels = sk.kernels;
  std::cerr << fmt::format("kiln emit: {} kernels of {} {} as {}\n", kernels.size(), cfg.name,
                           stage, t.name);
  Emitted e = t.emit(kernels, arch, single_module);

  auto names = valueNames(*g);
  nlohmann::json js = {{"config", cfg.name}, {"stage", stage}, {"target", t.name}};
  if (t.takes_arch)
    js["arch"] = arch;
  js["inputs"] = nlohmann::json::array();
  for (const GraphInput &in : g->inputs()) {
    nlohmann::json j = typeJson(in.value->type);
    j["name"] = in.name;
    js["inputs"].push_back(j);
  }
  js["outputs"] = nlohmann::json::array();
  for (const GraphOutput &out : g->outputs()) {
    nlohmann::json j = typeJson(out.value->type);
    j["name"] = out.name;
    j["value"] = names.at(out.value);
    if (!out.updates.empty())
      j["updates"] = out.updates;
    js["outputs"].push_back(j);
  }
  js["arenas"] = plan.arena_sizes;
  js["kernels"] = nlohmann::json::array();
  js["fallbacks"] = nlohmann::json::array();
  size_t next = 0;
  for (const kernel::ScheduledKernel &s : schedule) {
    if (!s.kernel) {
      js["fallbacks"].push_back({{"name", s.name}, {"op", std::string(s.node->name())}});
      continue;
    }
    const kernel::Kernel &k = *s.kernel;
    nlohmann::json j = {{"name", s.name}};
    j["file"] = single_module ? "module" + t.extension : s.name + t.extension;
    if (!t.binary_extension.empty())
      j["binary"] = s.name + t.binary_extension;
    if (const std::optional<gpu::PtxLaunch> &l = e.launches[next])
      j["launch"] = {{"grid", l->grid}, {"block", l->block}, {"shared_bytes", l->shared_bytes}};
    j["buffers"] = nlohmann::json::array();
    std::vector<int> params = k.parameters();
    for (size_t p = 0; p < params.size(); ++p) {
      const kernel::Buffer &b = k.buffers[params[p]];
      nlohmann::json bj = homeJson(*g, plan, s.values[p]);
      bj["param"] = p;
      bj["buffer"] = b.name;
      bj["role"] = roleName(b.role);
      bj["value"] = names.at(s.values[p]);
      bj["type"] = typeJson(s.values[p]->type);
      j["buffers"].push_back(bj);
    }
    if (!k.traps.empty())
      j["error_slots"] = k.traps.size();
    js["kernels"].push_back(j);
    if (!single_module)
      writeTextFile((std::filesystem::path(output) / (s.name + t.extension)).string(),
                    e.texts[next]);
    if (!t.binary_extension.empty())
      writeTextFile((std::filesystem::path(output) / (s.name + t.binary_extension)).string(),
                    e.binaries[next]);
    ++next;
  }
  if (single_module)
    writeTextFile((std::filesystem::path(output) / ("module" + t.extension)).string(), *e.module);
  writeTextFile((std::filesystem::path(output) / "schedule.json").string(), js.dump(1) + "\n");
  std::cout << fmt::format("wrote {} kernels to {}{}\n", kernels.size(), output,
                           single_module ? " (module" + t.extension + ")" : "");
  return 0;
}

} // namespace kiln::tools
