#pragma once
// oneDNN primitives for the nodes that oneDNN computes faster than kiln's JIT loops (see
// kernel_choice.h for which). A primitive is created once, when an executable is compiled, and
// then runs on whatever buffers the memory plan gives it. oneDNN's CPU runtime is OpenMP, as
// kiln's loops are: both draw on one pool of threads. Internal to backend/cpu.

#include "ir/graph.h"

#include <memory>
#include <span>
#include <string>

namespace kiln::cpu::onednn {

/// A node computed by a oneDNN primitive.
class Primitive {
public:
  virtual ~Primitive() = default;
  /// Runs on the node's buffers: its operands, then its results. Throws Error (at the node's
  /// location) if oneDNN fails.
  virtual void run(std::span<void *const> buffers) const = 0;
};

/// Whether oneDNN has a primitive for this node's op and dtypes.
bool canCompute(const Node &node);

/// The primitive of a node that canCompute accepts, created with `threads` OpenMP threads;
/// nullptr when oneDNN has no implementation for its shapes or layout.
std::unique_ptr<Primitive> create(const Node &node, int threads);

/// What a matmul's primitive does to its product before writing it: adds a tensor of type
/// `addend` (broadcast to the product's shape), or applies relu.
struct PostOp {
  enum Kind { Add, Relu } kind = Add;
  TensorType addend; ///< Add only
};

/// The primitive of a oneDNN matmul followed by post-ops, in order: it runs on the matmul's
/// operands, the addend of each Add, then the result. nullptr when oneDNN has none for these
/// shapes.
std::unique_ptr<Primitive> createMatmulWithPostOps(const Node &matmul,
                                                   std::span<const PostOp> post_ops, int threads);

/// Sets OpenMP's thread count for the calling thread while alive, as oneDNN reads it both when
/// it creates a primitive and when it runs one.
class ScopedThreads {
public:
  explicit ScopedThreads(int threads);
  ~ScopedThreads();
  ScopedThreads(const ScopedThreads &) = delete;
  ScopedThreads &operator=(const ScopedThreads &) = delete;

private:
  int previous_;
};

/// oneDNN's version, "2.6.3", for statistics and the compile cache's key.
std::string version();

} // namespace kiln::cpu::onednn
