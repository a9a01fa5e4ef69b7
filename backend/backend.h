#pragma once
// The backend seam: a backend says which nodes it supports and compiles a graph into an
// Executable. Backends are listed once (backend_list.cpp), like the passes; that list feeds
// `--backend` in every tool and the conformance test.

#include "ir/graph.h"
#include "runtime/collective.h"
#include "runtime/executable.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Which kernels the CPU backend uses for the nodes that both of its paths compute
/// (backend/cpu/kernel_choice.h has the rule).
enum class CpuKernels {
  Auto,   ///< each node on the path that measures faster for it
  Jit,    ///< kiln's JIT loops for every node
  OneDnn, ///< oneDNN for every node it computes
};

/// "auto", "jit", "onednn".
std::string_view cpuKernelsName(CpuKernels k);
/// The mode of a name cpuKernelsName gives; throws Error naming the modes otherwise.
CpuKernels parseCpuKernels(std::string_view name);

/// Options of one compilation.
struct CompileOptions {
  /// Reference backend only: computes every f32 value in f64 (finite-difference checks).
  bool promote_f64 = false;
  /// Threads for parallel loops; 0: the cores this process may use.
  int threads = 0;
  /// Reuse compiled code from the in-memory and on-disk caches.
  bool use_cache = true;
  /// Memory-plan debug mode: poison each buffer's range when it dies.
  bool poison_dead_buffers = false;
  /// CPU: compile kernels that differ only in their names once, and share the function.
  bool share_kernels = true;
  /// CPU: oneDNN primitives or JIT loops.
  CpuKernels cpu_kernels = CpuKernels::Auto;
  /// Time every step of every run, for Executable::profile (kiln bench --profile).
  bool profile = false;
  /// The group that all_reduce sums over; null: this process alone (all_reduce copies). It must
  /// outlive the executable.
  Communicator *communicator = nullptr;
  /// CPU: an all_reduce runs while the next steps do, and its first reader waits for it; off,
  /// each one completes at its own step.
  bool overlap_all_reduce = true;
};

/// A code generator and its runtime.
class Backend {
public:
  virtual ~Backend() = default;
  /// The name `--backend` takes ("reference", "cpu").
  virtual std::string_view name() const = 0;
  /// One line for `--help` and `kiln-opt --list-backends`.
  virtual std::string_view summary() const = 0;
  /// Whether this backend has its own kernel for the node (others fall back, node by node).
  virtual bool supports(const Node &node) const = 0;
  /// Compiles a verified graph. Throws Error for what the backend cannot compile.
  virtual std::unique_ptr<Executable> compile(const Graph &graph,
                                              const CompileOptions &options) const = 0;
  /// Why this machine cannot run the backend (no driver, no device), in the one line that
  /// compile() would throw; empty where it can. Test suites skip a backend that says why.
  virtual std::string unavailable() const { return {}; }
};

/// Every backend, in the order `--backend` lists them.
const std::vector<const Backend *> &allBackends();
/// The backend of this name, or nullptr.
const Backend *lookupBackend(std::string_view name);
/// The backend of this name; throws Error naming the known backends otherwise.
const Backend &getBackend(std::string_view name);
/// "reference, cpu": the names, for help texts and errors.
std::string backendNames();

/// The signature of a graph: its inputs, its outputs and which output updates which input.
Signature signatureOf(const Graph &graph);

} // namespace kiln
