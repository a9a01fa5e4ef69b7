#pragma once
// A compiled graph for a GPU, whatever the device: its buffers (inputs, arenas, outputs and the
// trap slots, each with its size), its kernels (SPIR-V for Vulkan, PTX for CUDA, or both), and
// its steps in order: a dispatch of a kernel over slices of those buffers, or a host step that
// a HostSteps evaluator computes between dispatches (nodes that have no kernel). The Vulkan and
// CUDA executables run the same program (program_executable.h); a bundle stores one on disk.
//
// The layout follows the memory plan: input i lives at the start of buffer kind Input i (the
// executable's own copy, where the next values of parameters and state are written), arena
// values at their offsets, outputs in buffers of their own. Every dispatch of a kernel with
// traps binds its error slots (one int64 each, kTrapClear before a run) last, in the one trap
// buffer.

#include "ir/diagnostics.h"
#include "runtime/executable.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kiln::gpu {

/// The error slot of a trap that did not fire (kernel::kTrapClear).
inline constexpr int64_t kTrapSlotClear = std::numeric_limits<int64_t>::max();

/// Bytes past the end of every device buffer, so that an empty value still has bytes to bind.
inline constexpr int64_t kBufferPadding = 16;

/// The bytes a value of this type takes.
int64_t byteSize(const TensorType &t);
/// n rounded up to a multiple of align.
int64_t alignUp(int64_t n, int64_t align);

/// One device buffer of a program.
struct ProgramBuffer {
  enum class Kind { Input, Arena, Output, Traps };
  Kind kind = Kind::Arena;
  int index = 0;     ///< the input, arena or output it is
  int64_t bytes = 0; ///< its size (without kBufferPadding)
};

/// Bytes of one program buffer that a binding or a value sees.
struct Slice {
  int buffer = 0;       ///< index into GpuProgram::buffers
  int64_t offset = 0;   ///< from the buffer's start
  int64_t bytes = 0;    ///< may be 0
  bool written = false; ///< whether the dispatch writes it
};

/// A compiled kernel of the program, for one device kind or both.
struct ProgramKernel {
  std::string name;
  std::string identity; ///< what it computes, for caches shared by programs; may be empty
  int bindings = 0;     ///< parameters, plus one for the error slots when it has traps
  bool uses_f64 = false;
  std::vector<uint32_t> spirv; ///< the SPIR-V binary (Vulkan), or empty
  int64_t workgroups = 1;      ///< vkCmdDispatch(workgroups, 1, 1)
  int64_t loop_iterations = 0; ///< of one invocation (spirv::SpirvKernel::loop_iterations)
  std::string ptx;             ///< its own PTX module (CUDA), or empty
  int64_t grid = 1, block = 1, shared_bytes = 0; ///< its CUDA launch
};

/// A trap of a dispatch: the message (`{}` for the value) and the binding it reports on.
struct ProgramTrap {
  std::string message;
  int binding = 0; ///< index into DispatchStep::bindings
  DType dtype = DType::i64;
};

/// One launch of a kernel.
struct DispatchStep {
  int kernel = 0;              ///< index into GpuProgram::kernels
  std::vector<Slice> bindings; ///< parameters in order, then the error slots when it has traps
  std::vector<ProgramTrap> traps;
  Location loc; ///< the node's, for trap messages
};

/// Values the host computes between dispatches, from values read back from the device.
struct HostStep {
  int id = 0; ///< what HostSteps evaluates: the nodes it stands for
  std::vector<Slice> inputs;
  std::vector<TensorType> input_types;
  std::vector<Slice> stored; ///< where the results it writes back go, in its order
  std::vector<TensorType> stored_types;
  std::string what; ///< the ops, for statistics ("exp")
};

/// A step of the program.
using ProgramStep = std::variant<DispatchStep, HostStep>;

/// Where an output's value is when a run ends.
struct ProgramOutput {
  std::optional<Slice> slice;  ///< its bytes on the device, or
  std::optional<size_t> input; ///< the input it is (a graph that returns an input unchanged)
};

/// A whole program.
struct GpuProgram {
  Signature signature;
  std::vector<ProgramBuffer> buffers; ///< inputs first, in signature order
  std::vector<ProgramKernel> kernels; ///< distinct kernels
  std::vector<ProgramStep> steps;
  std::vector<ProgramOutput> outputs; ///< in signature order
  int64_t alignment = 1;              ///< of every offset (the plan's)
  int64_t max_buffer_bytes = 0;       ///< the largest buffer (the plan's split)
  /// Counted at compile time: kernels (empty ones included), fallback nodes by op.
  int64_t num_kernels = 0;
  std::vector<std::pair<std::string, int64_t>> fallbacks;
  int64_t peak_bytes = 0;

  /// The index of the buffer of this kind and index; throws when there is none.
  int bufferOf(ProgramBuffer::Kind kind, int index) const;
  /// Whether some kernel uses f64.
  bool usesF64() const;
};

} // namespace kiln::gpu
