#pragma once
// A compiled program: what it takes and returns (its Signature) and how to run it. Every
// backend's compile() returns one; tools, the trainer and tests run programs only through it.

#include "runtime/host_buffer.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// The interface of a compiled program.
struct Signature {
  /// One input: its name, what it holds and its type.
  struct Input {
    std::string name;
    InputKind kind = InputKind::Data;
    TensorType type;
    InputRole role = InputRole::None;
  };
  /// One output: its name, its type, and the input it updates in place, if any.
  struct Output {
    std::string name;
    TensorType type;
    std::optional<size_t> updates; ///< index into inputs
  };
  std::vector<Input> inputs;
  std::vector<Output> outputs;

  /// The index of the input of this name, or nullopt.
  std::optional<size_t> findInput(std::string_view name) const;
  /// The index of the input with this role, or nullopt.
  std::optional<size_t> findInput(InputRole role) const;
  /// The index of the output of this name, or nullopt.
  std::optional<size_t> findOutput(std::string_view name) const;
};

/// Host buffers by name: a program's inputs, and after a run its outputs. An output that
/// updates an input is written over that input's buffer instead of getting one of its own.
using Bindings = std::map<std::string, HostBuffer>;

/// The time that runs spent in one kind of kernel (CompileOptions::profile).
struct KernelTime {
  std::string kernel; ///< what ran: op, result type and path, "matmul f32[16,64] [onednn]"
  int64_t calls = 0;
  double seconds = 0;
};

/// A compiled program. Runs are repeatable; one executable is not run from two threads at once.
class Executable {
public:
  explicit Executable(Signature signature) : signature_(std::move(signature)) {}
  virtual ~Executable() = default;

  const Signature &signature() const { return signature_; }

  /// Runs the program on inputs in signature order; returns the outputs in signature order.
  /// Throws Error when an input's type differs from the signature or a kernel meets bad data.
  virtual std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) = 0;

  /// Runs the program on inputs it may overwrite: each output that updates an input is left in
  /// that input's buffer (its entry in the result is empty), so a train step copies no
  /// parameter. After an Error, inputs that outputs update may hold partial values. The
  /// default runs run() and moves those outputs over their inputs.
  virtual std::vector<HostBuffer> runInPlace(std::span<HostBuffer> inputs);

  /// Runs the program on bound inputs (each checked: present, dtype, shape) and binds its
  /// outputs; outputs that update inputs are written over those inputs' buffers (runInPlace).
  /// A missing input is an Error naming every missing input and every bound name the program
  /// does not know; a wrong dtype or shape names the input and both types. After an Error every
  /// binding is back in place; inputs that outputs update may hold partial values (runInPlace).
  void run(Bindings &bindings);

  /// What compilation produced, for `--pass-statistics` and `kiln dump --level kernels`:
  /// kernels, fallbacks to the reference kernels, arena size. One "name: value" per line.
  virtual std::vector<std::pair<std::string, int64_t>> statistics() const { return {}; }
  /// Time per kind of kernel over every run so far, most first; empty unless compiled to
  /// profile.
  virtual std::vector<KernelTime> profile() const { return {}; }

protected:
  /// Checks that inputs match the signature in number, dtype and shape.
  void checkInputs(std::span<const HostBuffer> inputs) const;

private:
  Signature signature_;
};

} // namespace kiln
