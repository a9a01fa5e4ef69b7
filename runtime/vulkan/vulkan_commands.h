#pragma once
// A recorded sequence of compute dispatches: their descriptor sets (set 0, binding i = the i-th
// buffer range) and one command buffer that runs them, recorded once and submitted on every
// run. Between a dispatch and a later one that reads what it writes, or writes what it reads
// or writes, the command buffer has a compute-to-compute memory barrier; independent
// dispatches run without one. The command buffer begins with a barrier that makes host writes
// and staging copies visible to the shaders and ends with one that makes the shaders' writes
// visible to the host and to copies.

#include "runtime/vulkan/vulkan_buffer.h"
#include "runtime/vulkan/vulkan_pipeline.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace kiln::vulkan {

/// Bytes of a buffer that a binding sees.
struct BufferRange {
  const Buffer *buffer = nullptr;
  int64_t offset = 0;   ///< a multiple of the device's minStorageBufferOffsetAlignment
  int64_t size = 0;     ///< bytes; an empty range binds a few bytes of padding
  bool written = false; ///< whether the dispatch writes it
};

/// One vkCmdDispatch(workgroups, 1, 1) of a pipeline over its bindings.
struct Dispatch {
  std::shared_ptr<const Pipeline> pipeline;
  std::vector<BufferRange> bindings; ///< one per binding of the pipeline's set 0
  uint32_t workgroups = 1;
};

/// Whether two buffer ranges share a byte.
bool overlaps(const BufferRange &a, const BufferRange &b);

/// Indices of the dispatches that must wait for an earlier one: each one that reads a range
/// written, or writes a range read or written, since the last barrier. A barrier is recorded
/// before each of them.
std::vector<size_t> barriersBefore(const std::vector<Dispatch> &dispatches);

/// Dispatches recorded into one command buffer. Not copyable.
class CommandList {
public:
  /// Records the dispatches; the buffers they bind must outlive the list.
  CommandList(std::shared_ptr<const Device> device, std::vector<Dispatch> dispatches);
  ~CommandList();
  CommandList(const CommandList &) = delete;
  CommandList &operator=(const CommandList &) = delete;

  /// Submits the command buffer and waits for it.
  void run() const;
  /// The barriers recorded between dispatches.
  int64_t barriers() const { return barriers_; }
  /// The dispatches recorded.
  size_t size() const { return dispatches_.size(); }

private:
  /// Destroys the handles made so far.
  void release();

  std::shared_ptr<const Device> device_;
  std::vector<Dispatch> dispatches_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer commands_ = VK_NULL_HANDLE;
  int64_t barriers_ = 0;
};

} // namespace kiln::vulkan
