// kiln-run: runs a bundle (kiln bundle) on a GPU with safetensors inputs and outputs. It links
// no compiler (no LLVM, no oneDNN): GPU programs, the Vulkan and CUDA runtimes (their drivers
// loaded with dlopen), the reference kernels of ir/ for host steps, and safetensors.
//
//   kiln-run BUNDLE --inputs in.safetensors --outputs out.safetensors [--device auto|vulkan|cuda]
//
// Every input of the bundle must be in the inputs file, with its dtype and shape, and nothing
// else may be; each output is written under its name. --repeat N runs N times and prints the
// median time of a run (the inputs are the same each time).

#include "backend/gpu/program/bundle.h"
#include "runtime/cuda/cuda_program.h"
#include "runtime/safetensors.h"
#include "runtime/vulkan/vulkan_program.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>

using namespace kiln;

namespace {

std::string shapeText(DType d, const Shape &s) { return TensorType{d, s}.str(); }

/// The bundle's inputs from the file, in signature order; an Error names every problem.
std::vector<HostBuffer> bindInputs(const Signature &sig, const TensorMap &file,
                                   const std::string &path) {
  std::vector<std::string> missing, unknown;
  for (const Signature::Input &in : sig.inputs)
    if (!file.count(in.name))
      missing.push_back(in.name);
  for (const auto &[name, t] : file)
    if (!sig.findInput(name))
      unknown.push_back(name);
  if (!missing.empty() || !unknown.empty())
    throw Error(
        {}, fmt::format("--inputs {}: {}{}{}", path,
                        missing.empty() ? ""
                                        : fmt::format("missing {} of the bundle's inputs: "
                                                      "{}",
                                                      missing.size(), fmt::join(missing, ", ")),
                        missing.empty() || unknown.empty() ? "" : "; ",
                        unknown.empty() ? ""
                                        : fmt::format("{} the bundle does not take: {}",
                                                      unknown.size(), fmt::join(unknown, ", "))));
  std::vector<HostBuffer> inputs;
  for (const Signature::Input &in : sig.inputs) {
    const TensorData &t = file.at(in.name);
    if (t.dtype != in.type.dtype || t.shape != in.type.shape)
      throw Error({}, fmt::format("--inputs {}: \"{}\" is {}; the bundle takes {}", path, in.name,
                                  shapeText(t.dtype, t.shape), in.type.str()));
    inputs.emplace_back(in.type, t.bytes);
  }
  return inputs;
}

std::unique_ptr<gpu::DeviceProgram> deviceProgram(const gpu::GpuProgram &p, std::string &device) {
  if (device == "auto") {
    try {
      cuda::Driver::get();
      device = "cuda";
    } catch (const Error &) {
      device = "vulkan";
    }
  }
  if (device == "cuda")
    return cuda::makeCudaProgram(p, cuda::Driver::get());
  return vulkan::makeVulkanProgram(p, vulkan::Device::create());
}

int run(int argc, char **argv) {
  CLI::App app("run a kiln bundle on a GPU: safetensors in, safetensors out", "kiln-run");
  std::string bundle_dir, inputs_path, outputs_path, device = "auto";
  int repeat = 1;
  app.add_option("bundle", bundle_dir, "the bundle's folder (kiln bundle -o)")->required();
  app.add_option("--inputs", inputs_path, "safetensors file of every input")->required();
  app.add_option("--outputs", outputs_path, "safetensors file to write the outputs to");
  app.add_option("--device", device,
                 "auto (cuda where a CUDA driver and GPU are, else vulkan), vulkan or cuda")
      ->check(CLI::IsMember({"auto", "vulkan", "cuda"}))
      ->capture_default_str();
  app.add_option("--repeat", repeat, "runs, after which the median time of one is printed")
      ->check(CLI::Range(1, 100000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  gpu::Bundle b = gpu::readBundle(bundle_dir);
  std::vector<HostBuffer> inputs =
      bindInputs(b.program->signature, readSafetensors(inputs_path), inputs_path);
  gpu::HostSteps host;
  if (b.graph)
    host = gpu::graphHostSteps(b.graph, b.host);
  gpu::ProgramExecutable exe(b.program, deviceProgram(*b.program, device), host);
  std::vector<HostBuffer> outputs;
  std::vector<double> seconds;
  for (int r = 0; r < repeat; ++r) {
    auto start = std::chrono::steady_clock::now();
    outputs = exe.run(inputs);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::cout << fmt::format("ran {} ({} kernels) on {}: {} runs, median {:.3f} ms\n", bundle_dir,
                           b.program->kernels.size(), device, repeat,
                           seconds[seconds.size() / 2] * 1e3);
  if (!outputs_path.empty()) {
    TensorMap out;
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto bytes = outputs[i].bytes();
      out[b.program->signature.outputs[i].name] = TensorData{
          outputs[i].type().dtype, outputs[i].type().shape, {bytes.begin(), bytes.end()}};
    }
    writeSafetensors(outputs_path, out);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const Error &e) {
    std::cerr << "kiln-run: error: " << e.message() << "\n";
    return 1;
  }
}
