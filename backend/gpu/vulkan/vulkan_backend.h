#pragma once
// The Vulkan backend: every node with a kernel-IR lowering runs as a SPIR-V compute shader on
// a Vulkan device (a GPU, or Mesa's lavapipe on the CPU); the others run on their reference
// kernels on the host between dispatches. The SPIR-V comes from the code generator it is
// constructed with (spirv_compiler.h), so the runtime is tested with hand-written shaders;
// backend_list.cpp registers it over kiln's generator as `--backend vulkan`.

#include "backend/backend.h"
#include "backend/gpu/vulkan/spirv_compiler.h"
#include "runtime/vulkan/vulkan_device.h"
#include "runtime/vulkan/vulkan_pipeline.h"

#include <memory>
#include <mutex>

namespace kiln::vulkan {

/// The backend over one device, created at the first compile (KILN_VULKAN_DEVICE chooses it).
class VulkanBackend final : public Backend {
public:
  /// A backend that compiles kernels with `compiler`.
  explicit VulkanBackend(SpirvCompiler compiler);

  std::string_view name() const override { return "vulkan"; }
  std::string_view summary() const override {
    return "SPIR-V compute shaders on a Vulkan device (KILN_VULKAN_DEVICE chooses it); "
           "reference kernels on the host for the other ops";
  }
  /// Whether the node lowers to a kernel; the others run on their reference kernels on the
  /// host, between dispatches.
  bool supports(const Node &node) const override;
  /// Compiles for the device; throws Error with one line when there is no device.
  std::unique_ptr<Executable> compile(const Graph &graph,
                                      const CompileOptions &options) const override;

  /// The device, created on the first call. Throws Error when there is none.
  std::shared_ptr<const Device> device() const;
  /// How many kernels have been compiled (one per kernel identity).
  size_t compiledKernels() const;

private:
  SpirvCompiler compiler_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const Device> device_;
  mutable PipelineCache cache_;
};

} // namespace kiln::vulkan

namespace kiln {

/// The registered Vulkan backend over kiln::spirv::compileSpirv (vulkan_registration.cpp).
const Backend &vulkanBackend();

} // namespace kiln
