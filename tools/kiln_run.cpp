// kiln-run: runs a bundle (kiln bundle) on a GPU with safetensors inputs and outputs. It links
// no compiler (no LLVM, no oneDNN): GPU programs, the Vulkan and CUDA runtimes (their drivers
// loaded with dlopen), the reference kernels of ir/ for host steps, and safetensors.
//
//   kiln-run BUNDLE --inputs in.safetensors --outputs out.safetensors [--device auto|vulkan|cuda]
//
// Every input of the bundle must be in the inputs file, with its dtype and shape, and nothing
// else may be; each output is written under its name. --random-inputs SEED draws the inputs
// instead (runtime/gpu/example_inputs.h), for timings of models whose weights would not fit a
// small folder. --expected FILE compares the outputs with a file of the same tensors (|a - b| <=
// atol + rtol * max(|a|, |b|); with --scaled, atol is a fraction of the expected tensor's
// largest magnitude, for outputs whose scales differ by orders, as gradients and Adam's
// moments do). --repeat N runs N times and prints the median time of a run.

#include "backend/gpu/program/bundle.h"
#include "ir/literal.h"
#include "runtime/cuda/cuda_program.h"
#include "runtime/gpu/example_inputs.h"
#include "runtime/safetensors.h"
#include "runtime/vulkan/vulkan_program.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <regex>

using namespace kiln;

namespace {

/// A check that a number lies in [lo, hi]. Text that is no number passes, so that CLI11's
/// conversion refuses it as a value of the wrong form (status 2); NaN is refused here, since
/// every comparison with a NaN tolerance would pass.
CLI::Validator numberIn(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string &text) -> std::string {
        char *end = nullptr;
        double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0')
          return "";
        if (std::isnan(value) || value < lo || value > hi)
          return fmt::format("{} is not in [{}, {}]", text, lo, hi);
        return "";
      },
      fmt::format("in [{}, {}]", lo, hi));
}

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

/// How closely outputs must equal the expected ones.
struct Tolerance {
  double rtol = 1e-4;  ///< relative to the larger magnitude of the two
  double atol = 1e-5;  ///< absolute
  bool scaled = false; ///< atol is relative to each expected tensor's largest magnitude
  std::string ignore;  ///< outputs whose names match: types only
};

/// Compares outputs with the expected file; throws Error at the first disagreement, returns the
/// largest difference.
double compareOutputs(const Signature &sig, const std::vector<HostBuffer> &outputs,
                      const TensorMap &expected, const std::string &path, const Tolerance &tol) {
  double worst = 0;
  std::regex skip(tol.ignore.empty() ? "$^" : tol.ignore); // checked by run()
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = sig.outputs[i].name;
    auto e = expected.find(name);
    if (e == expected.end())
      throw Error({}, fmt::format("--expected {}: no output \"{}\"", path, name));
    const TensorType &t = outputs[i].type();
    if (e->second.dtype != t.dtype || e->second.shape != t.shape)
      throw Error({}, fmt::format("--expected {}: \"{}\" is {}; the bundle gives {}", path, name,
                                  shapeText(e->second.dtype, e->second.shape), t.str()));
    if (!tol.ignore.empty() && std::regex_search(name, skip))
      continue;
    Literal want = Literal::fromBytes(t, e->second.bytes);
    Literal got = Literal::fromBytes(t, outputs[i].bytes());
    double atol = tol.atol;
    if (tol.scaled) {
      double largest = 0;
      for (double a : want.data)
        if (std::isfinite(a))
          largest = std::max(largest, std::abs(a));
      atol *= largest;
    }
    for (size_t k = 0; k < want.data.size(); ++k) {
      double a = want.data[k], b = got.data[k];
      if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b)) {
        if (!(a == b || (std::isnan(a) && std::isnan(b))))
          throw Error(
              {}, fmt::format("output \"{}\" element {}: {} expected, {} computed", name, k, a, b));
        continue;
      }
      double d = std::abs(a - b);
      if (d > atol + tol.rtol * std::max(std::abs(a), std::abs(b)))
        throw Error({}, fmt::format("output \"{}\" element {}: {} expected, {} computed (beyond "
                                    "rtol {} and atol {:.3g})",
                                    name, k, a, b, tol.rtol, atol));
      worst = std::max(worst, d);
    }
  }
  return worst;
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
  std::string bundle_dir, inputs_path, outputs_path, device = "auto", expected_path;
  int repeat = 1;
  uint64_t seed = 0;
  Tolerance tol;
  app.add_option("bundle", bundle_dir, "the bundle's folder (kiln bundle -o)")->required();
  CLI::Option *in = app.add_option("--inputs", inputs_path, "safetensors file of every input");
  app.add_option("--random-inputs", seed, "draw the inputs from this seed instead")->excludes(in);
  app.add_option("--expected", expected_path,
                 "safetensors file of the outputs expected: compare, and fail at a difference");
  app.add_option("--rtol", tol.rtol, "relative tolerance of --expected")
      ->check(numberIn(0, HUGE_VAL))
      ->capture_default_str();
  app.add_option("--atol", tol.atol, "absolute tolerance of --expected")
      ->check(numberIn(0, HUGE_VAL))
      ->capture_default_str();
  app.add_flag("--scaled", tol.scaled,
               "--atol is a fraction of each expected output's largest magnitude");
  app.add_option("--ignore", tol.ignore,
                 "outputs whose names match this regular expression: --expected checks only "
                 "their types");
  app.add_option("--outputs", outputs_path, "safetensors file to write the outputs to");
  app.add_option("--device", device,
                 "auto (cuda where a CUDA driver and GPU are, else vulkan), vulkan or cuda")
      ->check(CLI::IsMember({"auto", "vulkan", "cuda"}))
      ->capture_default_str();
  app.add_option("--repeat", repeat, "runs, after which the median time of one is printed")
      ->check(numberIn(1, 100000));
  app.footer("Exit status: 0 success; 1 an error in the input or in a value given (a bad bundle "
             "or file, a value out of range, a failed run or comparison); 2 a usage error (an "
             "unknown or missing flag, a value of the wrong form).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    if (e.get_exit_code() == 0) // --help
      return app.exit(e);
    // The statuses of kiln and kiln-opt (tools/tool_support.h), whose helpers link the compiler:
    // a value out of its range is bad input, a command line that does not parse a usage error.
    if (dynamic_cast<const CLI::ValidationError *>(&e) != nullptr)
      throw Error({}, e.what());
    throw UsageError({}, e.what());
  }
  if (inputs_path.empty() && app.count("--random-inputs") == 0)
    throw UsageError({}, "give --inputs FILE or --random-inputs SEED");
  try {
    std::regex check(tol.ignore);
  } catch (const std::regex_error &e) {
    throw Error({},
                fmt::format("--ignore '{}': not a regular expression ({})", tol.ignore, e.what()));
  }
  // Read before the run, which may take long, so that a missing file fails at once.
  TensorMap expected;
  if (!expected_path.empty())
    expected = readSafetensors(expected_path);
  gpu::Bundle b = gpu::readBundle(bundle_dir);
  std::vector<HostBuffer> inputs =
      inputs_path.empty()
          ? gpu::exampleInputs(b.program->signature, seed)
          : bindInputs(b.program->signature, readSafetensors(inputs_path), inputs_path);
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
  if (!expected_path.empty()) {
    double worst = compareOutputs(b.program->signature, outputs, expected, expected_path, tol);
    std::cout << fmt::format("outputs equal {} within rtol {} and atol {}{} (largest "
                             "difference {:.3g})\n",
                             expected_path, tol.rtol, tol.atol,
                             tol.scaled ? " of each output's largest magnitude" : "", worst);
  }
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
    std::string where = e.location().known() ? e.location().str() + ": " : "";
    std::cerr << "kiln-run: error: " << where << e.message() << "\n";
    if (dynamic_cast<const UsageError *>(&e) == nullptr)
      return 1;
    std::cerr << "Run with --help for more information.\n";
    return 2;
  }
}
