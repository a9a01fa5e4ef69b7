// A GpuProgram's buffers, pipelines and command buffers on a Vulkan device.

#include "runtime/vulkan/vulkan_program.h"

#include "runtime/vulkan/vulkan_buffer.h"
#include "runtime/vulkan/vulkan_commands.h"

#include <fmt/format.h>

#include <map>

namespace kiln::vulkan {
namespace {

using gpu::ProgramBuffer;

class VulkanProgram final : public gpu::DeviceProgram {
public:
  VulkanProgram(const gpu::GpuProgram &program, std::shared_ptr<const Device> device,
                PipelineCache *cache)
      : device_(std::move(device)) {
    for (const ProgramBuffer &b : program.buffers) {
      checkBindable(program, b);
      buffers_.push_back(std::make_unique<Buffer>(device_, b.bytes + gpu::kBufferPadding));
    }
    std::vector<std::shared_ptr<const Pipeline>> pipelines;
    for (const gpu::ProgramKernel &k : program.kernels)
      pipelines.push_back(pipelineFor(k, device_, cache));
    std::vector<Dispatch> dispatches;
    size_t first = 0;
    auto record = [&](size_t end) {
      if (!dispatches.empty())
        lists_[first] = std::make_unique<CommandList>(device_, std::move(dispatches));
      dispatches.clear();
      first = end;
    };
    for (size_t s = 0; s < program.steps.size(); ++s) {
      const auto *d = std::get_if<gpu::DispatchStep>(&program.steps[s]);
      if (!d) {
        record(s + 1);
        continue;
      }
      const gpu::ProgramKernel &k = program.kernels[d->kernel];
      Dispatch dispatch{.pipeline = pipelines[d->kernel],
                        .workgroups = static_cast<uint32_t>(k.workgroups)};
      for (const gpu::Slice &sl : d->bindings)
        dispatch.bindings.push_back(BufferRange{.buffer = buffers_[sl.buffer].get(),
                                                .offset = sl.offset,
                                                .size = sl.bytes,
                                                .written = sl.written});
      KILN_ASSERT(dispatch.pipeline->bindings() == static_cast<int>(dispatch.bindings.size()),
                  "a pipeline's bindings differ from its kernel's parameters");
      dispatches.push_back(std::move(dispatch));
    }
    record(program.steps.size());
  }

  void write(int buffer, int64_t offset, std::span<const std::byte> bytes) override {
    buffers_[buffer]->write(offset, bytes);
  }
  void read(int buffer, int64_t offset, std::span<std::byte> out) const override {
    buffers_[buffer]->read(offset, out);
  }
  void dispatch(size_t first, size_t) override {
    if (auto l = lists_.find(first); l != lists_.end())
      l->second->run();
  }
  std::string name() const override { return device_->name(); }
  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    int64_t barriers = 0;
    for (const auto &[first, list] : lists_)
      barriers += list->barriers();
    return {{"command buffers", static_cast<int64_t>(lists_.size())}, {"barriers", barriers}};
  }

private:
  void checkBindable(const gpu::GpuProgram &program, const ProgramBuffer &b) const {
    int64_t limit = device_->limits().max_storage_buffer_range;
    if (b.bytes <= limit)
      return;
    const Signature &sig = program.signature;
    std::string what = b.kind == ProgramBuffer::Kind::Input
                           ? fmt::format("input \"{}\" ({})", sig.inputs[b.index].name,
                                         sig.inputs[b.index].type.str())
                       : b.kind == ProgramBuffer::Kind::Output
                           ? fmt::format("output \"{}\" ({})", sig.outputs[b.index].name,
                                         sig.outputs[b.index].type.str())
                           : fmt::format("arena {}", b.index);
    throw Error({}, fmt::format("--backend vulkan: {} needs {} bytes, more than the {} "
                                "bytes one storage buffer of {} may bind",
                                what, b.bytes, limit, device_->name()));
  }

  std::shared_ptr<const Device> device_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::map<size_t, std::unique_ptr<CommandList>> lists_; ///< by the step they start at
};

} // namespace

std::shared_ptr<const Pipeline> pipelineFor(const gpu::ProgramKernel &k,
                                            const std::shared_ptr<const Device> &device,
                                            PipelineCache *cache) {
  if (cache && !k.identity.empty())
    if (const CachedKernel *c = cache->find(k.identity); c && c->pipeline)
      return c->pipeline;
  if (k.spirv.empty())
    throw Error({}, fmt::format("kernel {} has no SPIR-V: the program was not compiled for "
                                "Vulkan",
                                k.name));
  if (k.uses_f64 && !device->features().float64)
    throw Error({},
                fmt::format("kernel {} computes in f64, which {} lacks", k.name, device->name()));
  if (k.workgroups < 0 || k.workgroups > static_cast<int64_t>(device->limits().max_workgroups_x))
    throw Error({}, fmt::format("--backend vulkan: kernel {} needs {} workgroups; {} "
                                "dispatches 0 to {}",
                                k.name, k.workgroups, device->name(),
                                device->limits().max_workgroups_x));
  if (int64_t most = device->limits().max_loop_iterations; most > 0 && k.loop_iterations > most)
    throw Error({}, fmt::format("vulkan: kernel {} runs {} loop iterations in one "
                                "invocation; {} breaks out of loops after {}, which would make "
                                "its results wrong",
                                k.name, k.loop_iterations, device->name(), most));
  auto p = std::make_shared<const Pipeline>(device, k.spirv, k.bindings, k.name);
  if (cache && !k.identity.empty())
    cache->insert(k.identity, CachedKernel{p, static_cast<uint32_t>(k.workgroups)});
  return p;
}

std::unique_ptr<gpu::DeviceProgram> makeVulkanProgram(const gpu::GpuProgram &program,
                                                      std::shared_ptr<const Device> device,
                                                      PipelineCache *cache) {
  return std::make_unique<VulkanProgram>(program, std::move(device), cache);
}

} // namespace kiln::vulkan
