#pragma once
// Runs a GpuProgram on a device: the device gives buffers and dispatches (DeviceProgram: the
// Vulkan and the CUDA one), the caller gives the host steps (HostSteps). A run writes the
// inputs into their device buffers, clears the error slots, runs each stretch of dispatches in
// turn and checks its traps, computes the host steps in between on bytes read back from the
// device, and reads the outputs. The caller's inputs are never written.

#include "runtime/executable.h"
#include "runtime/gpu/gpu_program.h"

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace kiln::gpu {

/// A program's buffers and kernels made on one device. Not copyable.
class DeviceProgram {
public:
  virtual ~DeviceProgram() = default;
  /// Copies bytes into buffer `buffer` (an index of GpuProgram::buffers) at `offset`.
  virtual void write(int buffer, int64_t offset, std::span<const std::byte> bytes) = 0;
  /// Copies `out.size()` bytes of a buffer at `offset` into `out`, once the dispatches before
  /// have finished.
  virtual void read(int buffer, int64_t offset, std::span<std::byte> out) const = 0;
  /// Runs the program's steps [first, last) (each a DispatchStep) in order and waits for them.
  virtual void dispatch(size_t first, size_t last) = 0;
  /// The device's name, for messages.
  virtual std::string name() const = 0;
  /// What the device made: "command buffers", "barriers" ...
  virtual std::vector<std::pair<std::string, int64_t>> statistics() const { return {}; }
};

/// Computes a host step from its inputs (in HostStep::inputs order); returns its stored values
/// (in HostStep::stored order).
using HostSteps =
    std::function<std::vector<HostBuffer>(const HostStep &, std::span<const HostBuffer>)>;

/// The executable of a program on a device.
class ProgramExecutable final : public Executable {
public:
  /// Runs `program` on `device` (made for it) with `host` for its host steps.
  ProgramExecutable(std::shared_ptr<const GpuProgram> program,
                    std::unique_ptr<DeviceProgram> device, HostSteps host);

  std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) override;
  std::vector<std::pair<std::string, int64_t>> statistics() const override;

  /// The program it runs.
  const GpuProgram &program() const { return *program_; }

private:
  /// Throws the first trap set in steps [first, last).
  void checkTraps(size_t first, size_t last) const;
  /// Computes a host step and writes its results to the device.
  void runHost(const HostStep &h) const;
  /// The bytes of a slice as a tensor.
  HostBuffer read(const Slice &s, const TensorType &t) const;

  std::shared_ptr<const GpuProgram> program_;
  std::unique_ptr<DeviceProgram> device_;
  HostSteps host_;
  int trap_buffer_ = -1;
};

} // namespace kiln::gpu
