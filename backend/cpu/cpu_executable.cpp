// Runs a graph as a schedule of steps in node order: a JIT kernel whose parallel loop is split
// over OpenMP threads (the pool oneDNN uses too), or a node's reference kernel, fed through
// Literals at that edge. Each value gets its own HostBuffer, freed after its last use.

#include "backend/cpu/cpu_executable.h"

#include "backend/cpu/jit.h"
#include "backend/kernel/lower.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace kiln::cpu {
namespace {

/// Below this many scalar operations a kernel runs on the calling thread: waking the pool
/// costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

void runKernel(KernelFn fn, void *const *buffers, int64_t extent, int64_t work, int threads) {
  if (extent <= 0)
    return;
  int64_t total = work > INT64_MAX / extent ? INT64_MAX : extent * work;
  int64_t chunks = std::min<int64_t>({threads, extent, total / kMinParallelWork});
  if (chunks <= 1) {
    fn(buffers, 0, extent);
    return;
  }
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c)
    fn(buffers, extent * c / chunks, extent * (c + 1) / chunks);
}

/// One step of the schedule.
struct Step {
  const Node *node = nullptr;
  int kernel = -1;           ///< index into the JIT's kernels; -1 for a reference fallback
  std::vector<int> operands; ///< value slots read
  std::vector<int> results;  ///< value slots written
  int64_t extent = 1, work = 1;
  std::vector<int> release; ///< slots whose last use this step is
};

class CpuExecutable final : public Executable {
public:
  CpuExecutable(const Graph &graph, const CompileOptions &options)
      : Executable(signatureOf(graph)), graph_(graph.clone()) {
    threads_ = options.threads > 0 ? options.threads : omp_get_max_threads();
    std::unordered_map<const Value *, int> slot;
    for (const GraphInput &in : graph_->inputs()) {
      slot[in.value.get()] = static_cast<int>(types_.size());
      types_.push_back(in.value->type);
    }
    num_inputs_ = static_cast<int>(types_.size());
    std::vector<kernel::Kernel> kernels;
    for (size_t i = 0; i < graph_->nodes().size(); ++i) {
      const Node &n = *graph_->nodes()[i];
      Step step;
      step.node = &n;
      for (const Value *v : n.operands)
        step.operands.push_back(slot.at(v));
      for (const auto &r : n.results) {
        slot[r.get()] = static_cast<int>(types_.size());
        step.results.push_back(static_cast<int>(types_.size()));
        types_.push_back(r->type);
      }
      if (std::optional<kernel::Kernel> k = kernel::lowerNode(n)) {
        k->name = fmt::format("{}_{}", n.name(), i);
        step.kernel = static_cast<int>(kernels.size());
        step.extent = k->parallelExtent();
        step.work = k->workPerIteration();
        kernels.push_back(std::move(*k));
      } else {
        ++fallbacks_[std::string(n.name())];
      }
      steps_.push_back(std::move(step));
    }
    for (const GraphOutput &out : graph_->outputs())
      outputs_.push_back(slot.at(out.value));
    num_kernels_ = static_cast<int64_t>(kernels.size());
    if (!kernels.empty())
      jit_ = JitKernels::compile(kernels);
    planReleases();
  }

  std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) override {
    checkInputs(inputs);
    std::vector<HostBuffer> owned(types_.size());
    std::vector<const HostBuffer *> values(types_.size(), nullptr);
    for (int i = 0; i < num_inputs_; ++i)
      values[i] = &inputs[i];
    for (const Step &step : steps_) {
      for (int r : step.results) {
        owned[r] = HostBuffer(types_[r]);
        values[r] = &owned[r];
      }
      if (step.kernel >= 0)
        runJit(step, values, owned);
      else
        runReference(step, values, owned);
      for (int s : step.release) {
        owned[s] = HostBuffer();
        values[s] = nullptr;
      }
    }
    std::vector<HostBuffer> out;
    for (int s : outputs_)
      out.push_back(*values[s]);
    return out;
  }

  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    int64_t fallbacks = 0;
    for (const auto &[op, count] : fallbacks_)
      fallbacks += count;
    std::vector<std::pair<std::string, int64_t>> stats = {{"kernels", num_kernels_},
                                                          {"fallback nodes", fallbacks}};
    for (const auto &[op, count] : fallbacks_)
      stats.emplace_back("fallback " + op, count);
    return stats;
  }

private:
  void runJit(const Step &step, const std::vector<const HostBuffer *> &values,
              std::vector<HostBuffer> &owned) {
    std::vector<void *> buffers;
    // Kernels only read their operands; the const_cast meets the C calling convention.
    for (int s : step.operands)
      buffers.push_back(const_cast<std::byte *>(values[s]->data()));
    for (int s : step.results)
      buffers.push_back(owned[s].data());
    runKernel(jit_->function(step.kernel), buffers.data(), step.extent, step.work, threads_);
  }

  void runReference(const Step &step, const std::vector<const HostBuffer *> &values,
                    std::vector<HostBuffer> &owned) {
    std::vector<Literal> args;
    args.reserve(step.operands.size());
    for (int s : step.operands)
      args.push_back(Literal::fromBytes(values[s]->type(), values[s]->bytes()));
    std::vector<const Literal *> ptrs;
    for (const Literal &a : args)
      ptrs.push_back(&a);
    std::vector<Literal> results = step.node->op->reference(*step.node, ptrs);
    KILN_ASSERT(results.size() == step.results.size(), "kernel returned a wrong result count");
    for (size_t i = 0; i < results.size(); ++i) {
      Literal &r = results[i];
      r.type = types_[step.results[i]];
      KILN_ASSERT(r.size() == r.type.numElements(), "kernel returned a wrong shape");
      r.roundToDType();
      std::vector<std::byte> bytes = r.toBytes();
      std::copy(bytes.begin(), bytes.end(), owned[step.results[i]].data());
    }
  }

  /// Frees each intermediate value after the last step that reads it.
  void planReleases() {
    std::vector<int> last(types_.size(), -1);
    for (size_t i = 0; i < steps_.size(); ++i) {
      for (int s : steps_[i].operands)
        last[s] = static_cast<int>(i);
      for (int s : steps_[i].results)
        last[s] = std::max(last[s], static_cast<int>(i));
    }
    for (int s : outputs_)
      last[s] = -1;
    for (int s = num_inputs_; s < static_cast<int>(types_.size()); ++s)
      if (last[s] >= 0)
        steps_[last[s]].release.push_back(s);
  }

  std::unique_ptr<Graph> graph_;
  std::unique_ptr<JitKernels> jit_;
  std::vector<TensorType> types_;
  std::vector<Step> steps_;
  std::vector<int> outputs_;
  int num_inputs_ = 0;
  int threads_ = 1;
  int64_t num_kernels_ = 0;
  std::map<std::string, int64_t> fallbacks_;
};

} // namespace

std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &options) {
  return std::make_unique<CpuExecutable>(graph, options);
}

} // namespace kiln::cpu
