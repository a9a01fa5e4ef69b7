// `kiln bundle`: a stage as a GPU program with SPIR-V and PTX kernels, written as a bundle.

#include "tools/bundle_command.h"

#include "backend/backend.h"
#include "backend/gpu/program/bundle.h"
#include "backend/gpu/program/program_builder.h"
#include "backend/gpu/ptx/ptx.h"
#include "backend/gpu/spirv/spirv_kernel.h"
#include "compiler/programs.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "runtime/gpu/example_inputs.h"
#include "runtime/safetensors.h"
#include "tools/tool_support.h"

#include <fmt/format.h>

#include <cstring>
#include <iostream>

namespace kiln::tools {
namespace {

/// Plans for the smallest limits of the devices kiln-run meets: lavapipe's 128 MiB per storage
/// buffer, and binding offsets aligned to 256 bytes (the largest minStorageBufferOffsetAlignment
/// of common GPUs).
PlanOptions bundlePlan() {
  int64_t align = kPlanAlignment;
  while (align % 256 != 0)
    align *= 2;
  return PlanOptions{.max_buffer_bytes = int64_t{128} << 20, .alignment = align};
}

TensorData tensorOf(const HostBuffer &b) {
  auto bytes = b.bytes();
  return TensorData{b.type().dtype, b.type().shape, {bytes.begin(), bytes.end()}};
}

} // namespace

CLI::App *BundleCommand::add(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand(
      "bundle", "compile a stage into a bundle that kiln-run runs on Vulkan or CUDA: its "
                "kernels as SPIR-V and PTX, the program as bundle.json, the graph of its host "
                "steps");
  model.add(*cmd);
  shape.add(*cmd);
  cmd->add_option("--graph", graph_file,
                  "bundle the graph of this text IR file (as kiln-opt reads it) instead of a "
                  "stage of the Transformer");
  cmd->add_option("--stage", stage, "the program, as kiln dump names it")
      ->check(CLI::IsMember(stageNames()))
      ->capture_default_str();
  cmd->add_option("--arch", arch, "the GPU of the PTX, sm_90 or sm_80")
      ->check(CLI::IsMember(gpu::ptxArchitectures()))
      ->capture_default_str();
  addPrecisionFlag(*cmd, precision);
  cmd->add_option("--example-inputs", example_inputs,
                  "also write inputs for the stage (parameters in [-0.1, 0.1), other floats in "
                  "[0, 0.01), integers in [1, 8)) to this safetensors file");
  cmd->add_option("--expected", expected,
                  "with --example-inputs: also write the outputs that the cpu backend computes "
                  "from them to this safetensors file");
  cmd->add_option("--expected-backend", expected_backend, "the backend that computes --expected")
      ->check(CLI::IsMember({"cpu", "reference"}))
      ->capture_default_str();
  cmd->add_option("--seed", seed, "the seed of the example inputs")
      ->check(unsignedInteger())
      ->capture_default_str();
  cmd->add_option("-o,--output", output, "the folder to write the bundle into (made when missing)")
      ->required();
  return cmd;
}

int BundleCommand::run() const {
  if (!expected.empty() && example_inputs.empty())
    throw Error({}, "--expected needs --example-inputs: the inputs it computes from");
  TransformerConfig cfg = model.resolve();
  bool compiled = stage != "forward" && stage != "loss";
  if (precision != "f32" && !compiled)
    throw Error({}, "--precision applies to --stage fused, train, encoder and decode-step only");
  BuiltModel m;
  if (!graph_file.empty()) {
    m.graph = parseGraph(readTextFile(graph_file), graph_file);
    verifyGraph(*m.graph);
  } else {
    m = buildStage(cfg, stage, shape.opts, withPrecision("default", precision));
  }
  gpu::ProgramTarget target{.plan = bundlePlan()};
  target.compile = [&](const kernel::Kernel &k) -> std::optional<gpu::ProgramKernel> {
    spirv::SpirvKernel s = spirv::compileSpirv(k);
    if (s.binary.empty())
      return std::nullopt;
    gpu::PtxModule ptx = gpu::emitPtx({k}, {.arch = arch, .separate = true});
    const gpu::PtxKernel &p = ptx.kernels.front();
    return gpu::ProgramKernel{.spirv = std::move(s.binary),
                              .workgroups = s.workgroups,
                              .loop_iterations = s.loop_iterations,
                              .ptx = p.ptx,
                              .grid = p.launch.grid,
                              .block = p.launch.block,
                              .shared_bytes = p.launch.shared_bytes};
  };
  gpu::BuiltProgram built = gpu::buildProgram(*m.graph, target);
  gpu::Bundle bundle{.program = built.program, .graph = built.graph, .host = built.host};
  bundle.about = {{"arch", arch}};
  if (graph_file.empty())
    bundle.about.insert({{"config", cfg.name}, {"stage", stage}});
  else
    bundle.about["graph"] = graph_file;
  gpu::writeBundle(output, bundle);
  std::cout << fmt::format("wrote a bundle of {} kernels, {} steps ({} on the host) to {}\n",
                           built.program->kernels.size(), built.program->steps.size(),
                           built.host.size(), output);
  if (example_inputs.empty())
    return 0;
  const Signature &sig = built.program->signature;
  std::vector<HostBuffer> inputs = gpu::exampleInputs(sig, seed);
  TensorMap in;
  for (size_t i = 0; i < inputs.size(); ++i)
    in[sig.inputs[i].name] = tensorOf(inputs[i]);
  writeSafetensors(example_inputs, in);
  if (expected.empty())
    return 0;
  std::unique_ptr<Executable> cpu =
      getBackend(expected_backend).compile(*m.graph, CompileOptions{});
  std::vector<HostBuffer> outs = cpu->run(inputs);
  TensorMap out;
  for (size_t i = 0; i < outs.size(); ++i)
    out[cpu->signature().outputs[i].name] = tensorOf(outs[i]);
  writeSafetensors(expected, out);
  return 0;
}

} // namespace kiln::tools
