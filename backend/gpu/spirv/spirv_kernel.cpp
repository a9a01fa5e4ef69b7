// compileSpirv: the emitted assembly, assembled and validated in-process by SPIRV-Tools for
// Vulkan 1.2, then optimised with its performance passes.

#include "backend/gpu/spirv/spirv_kernel.h"

#include "backend/gpu/spirv/spirv_codegen.h"
#include "ir/diagnostics.h"

#include <fmt/format.h>
#include <spirv-tools/libspirv.hpp>
#include <spirv-tools/optimizer.hpp>

namespace kiln::spirv {
namespace {

constexpr spv_target_env kEnv = SPV_ENV_VULKAN_1_2;

/// Collects SPIRV-Tools' messages, one per line, with the line of the assembly they concern.
struct Messages {
  std::string text;
  spvtools::MessageConsumer consumer() {
    return [this](spv_message_level_t, const char *, const spv_position_t &pos, const char *msg) {
      text += fmt::format("{}{}: {}", text.empty() ? "" : "\n",
                          pos.line ? fmt::format("line {}", pos.line + 1) : "module", msg);
    };
  }
};

} // namespace

std::string spirvAssembly(const kernel::Kernel &k, const SpirvOptions &o) {
  return emitSpirv(k, o).assembly;
}

std::vector<uint32_t> assembleSpirv(const std::string &assembly, const std::string &name) {
  spvtools::SpirvTools tools(kEnv);
  Messages messages;
  tools.SetMessageConsumer(messages.consumer());
  std::vector<uint32_t> binary;
  if (!tools.Assemble(assembly, &binary, SPV_TEXT_TO_BINARY_OPTION_PRESERVE_NUMERIC_IDS))
    throw Error({}, fmt::format("SPIR-V of kernel @{} does not assemble: {}", name, messages.text));
  if (!tools.Validate(binary))
    throw Error({}, fmt::format("SPIR-V of kernel @{} is not valid: {}", name, messages.text));
  return binary;
}

SpirvKernel compileSpirv(const kernel::Kernel &k, const SpirvOptions &o) {
  SpirvKernel out = emitSpirv(k, o);
  out.binary = assembleSpirv(out.assembly, k.name);
  if (o.optimize) {
    spvtools::Optimizer opt(kEnv);
    Messages messages;
    opt.SetMessageConsumer(messages.consumer());
    opt.RegisterPerformancePasses();
    std::vector<uint32_t> optimised;
    if (!opt.Run(out.binary.data(), out.binary.size(), &optimised))
      throw Error({},
                  fmt::format("SPIR-V of kernel @{} does not optimise: {}", k.name, messages.text));
    spvtools::SpirvTools tools(kEnv);
    tools.SetMessageConsumer(messages.consumer());
    if (!tools.Validate(optimised))
      throw Error({}, fmt::format("optimised SPIR-V of kernel @{} is not valid: {}", k.name,
                                  messages.text));
    out.binary = std::move(optimised);
  }
  return out;
}

} // namespace kiln::spirv
