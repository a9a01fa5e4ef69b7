// Runs a graph as a schedule of steps in node order: a JIT kernel whose parallel loop is split
// over OpenMP threads (the pool oneDNN uses too), or a node's reference kernel, fed through
// Literals at that edge. Values live where the memory plan puts them: intermediates at their
// offsets in arenas allocated once per executable, outputs in fresh buffers, and the next
// values of parameters and state in their inputs' buffers when the caller lets those be
// overwritten (runInPlace). A kernel whose parameters share bytes under the plan is compiled
// without noalias on them. A fusion group runs as one kernel at its root's step; its members'
// values that stay inside the kernel get no buffer. Kernels that differ only in their names
// (every layer's same-shaped ops) are compiled once and shared by their steps.
// A node that kernel_choice.h sends to oneDNN runs its primitive, created here once; the adds
// and relus that matmul_post_ops.h finds run inside their matmul's primitive.
// An all_reduce copies its operand into its result and starts the communicator's sum there;
// the first step that reads the result waits for it, so the sum of one bucket of gradients
// overlaps the backward steps after it.

#include "backend/cpu/cpu_executable.h"

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/jit.h"
#include "backend/cpu/kernel_choice.h"
#include "backend/cpu/matmul_post_ops.h"
#include "backend/cpu/onednn/onednn.h"
#include "backend/kernel/lower.h"
#include "backend/memory_plan.h"
#include "ir/op_handles.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace kiln::cpu {
namespace {

/// Below this many scalar operations a kernel runs on the calling thread: waking the pool
/// costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

/// What a dead buffer is filled with in poisoning mode: NaN in every float, -1 in integers.
constexpr int kPoison = 0xFF;

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

int64_t byteSize(const TensorType &t) { return t.numElements() * dtypeSize(t.dtype); }

/// Element `i` of an integer, bool or float buffer as an integer (for trap messages).
int64_t elementAsInt(const std::byte *data, DType dtype, int64_t i) {
  auto load = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, data + i * static_cast<int64_t>(sizeof(v)), sizeof(v));
    return static_cast<int64_t>(v);
  };
  switch (dtype) {
  case DType::i32:
    return load(int32_t{});
  case DType::i64:
    return load(int64_t{});
  case DType::boolean:
    return load(uint8_t{});
  case DType::f32:
    return load(float{});
  case DType::f64:
    return load(double{});
  case DType::bf16:
    return load(uint16_t{});
  }
  return 0;
}

/// Where a value's bytes are during a run.
struct Home {
  enum Kind { Input, Arena, Output, UpdatedInput, None } kind = Input; ///< None: in a kernel
  int index = 0;      ///< the input, the arena or the output
  int64_t offset = 0; ///< bytes from the start of the arena, or of the input (a slice's view)
  int output = -1;    ///< UpdatedInput: the output whose fresh buffer run() writes instead
};

/// A trap of a step's kernel and the parameter holding the values it reports.
struct StepTrap {
  kernel::Trap trap;
  int param = 0;
  DType dtype = DType::i64;
};

/// One step of the schedule.
struct Step {
  const Node *node = nullptr;
  int kernel = -1; ///< index into the JIT's kernels; -1 for a reference fallback
  /// The kernel to run instead when the result's buffer is the first operand's (an in-place
  /// run of an update), or -1.
  int kernel_over_operand = -1;
  int primitive = -1;        ///< index into the oneDNN primitives
  bool in_group = false;     ///< a group member whose group's kernel runs at the root's step
  bool post_op = false;      ///< an add or group that an earlier step's matmul computes
  bool view = false;         ///< a slice read where its input holds it: nothing to run
  bool all_reduce = false;   ///< a sum over the communicator's group
  std::vector<int> operands; ///< value slots read
  std::vector<int> results;  ///< value slots written
  int64_t extent = 1, work = 1;
  std::vector<StepTrap> traps;
  std::vector<int> poison; ///< slots whose live range ends at this step
  int profile = -1;        ///< index into the profile's kernel kinds when profiling
};

struct AlignedFree {
  void operator()(std::byte *p) const {
    ::operator delete[](p, std::align_val_t(static_cast<size_t>(kPlanAlignment)));
  }
};
using ArenaBytes = std::unique_ptr<std::byte[], AlignedFree>;

/// Where a slice's elements already lie, contiguous, inside a graph input: the byte offset of a
/// slice of leading rows (whole trailing axes, stride 1) of an input that no output updates,
/// 64-byte aligned as kernels expect, whose result is no output and whose bytes no later value
/// takes over. A decode step's slices of the packed attention projections are such views, so
/// they cost nothing. nullopt for other nodes.
std::optional<int64_t> sliceView(const Graph &g, const Node &n, const MemoryPlan &plan) {
  if (!n.is(op::Slice) || n.operands[0]->def)
    return std::nullopt;
  const Value *in = n.operands[0];
  const GraphInput &input = g.inputs()[in->index];
  for (const GraphOutput &o : g.outputs())
    if (o.updates == input.name || o.value == n.result())
      return std::nullopt;
  for (const PlannedValue &pv : plan.values)
    if (pv.reuses == n.result())
      return std::nullopt;
  const Shape &shape = in->type.shape;
  const IntList &start = n.getInts("start"), &limit = n.getInts("limit"),
                &stride = n.getInts("stride");
  for (int64_t st : stride)
    if (st != 1)
      return std::nullopt;
  for (size_t d = 1; d < shape.size(); ++d)
    if (start[d] != 0 || limit[d] != shape[d])
      return std::nullopt;
  if (shape.empty())
    return std::nullopt;
  int64_t offset =
      start[0] * (numElements(shape) / std::max<int64_t>(shape[0], 1)) * dtypeSize(in->type.dtype);
  if (offset % kPlanAlignment != 0)
    return std::nullopt;
  return offset;
}

/// Every node result in an arena of its own, none in place of another or of an input: the
/// baseline that the plan's sharing is checked and measured against.
MemoryPlan oneBufferPerValue(const MemoryPlan &planned) {
  MemoryPlan plan = planned;
  plan.arena_sizes.clear();
  for (PlannedValue &pv : plan.values) {
    pv.reuses = nullptr;
    if (pv.home == ValueHome::Input || pv.copy_to_input) {
      pv.home = ValueHome::Output;
      pv.copy_to_input = false;
    }
    if (pv.home == ValueHome::Arena) {
      pv.arena = static_cast<int>(plan.arena_sizes.size());
      pv.offset = 0;
      plan.arena_sizes.push_back(pv.size);
    }
  }
  plan.peak_bytes = plan.arenaBytes();
  return plan;
}

class CpuExecutable final : public Executable {
public:
  CpuExecutable(const Graph &graph, const CompileOptions &options, Placement placement)
      : Executable(signatureOf(graph)), graph_(graph.clone()), poison_(options.poison_dead_buffers),
        profiling_(options.profile), communicator_(options.communicator),
        overlap_(options.overlap_all_reduce) {
    threads_ = options.threads > 0 ? options.threads : omp_get_num_procs();
    attention_expanded_ = prepareCpuGraph(*graph_, options.cpu_kernels);
    plan_ = planMemory(*graph_);
    if (placement == Placement::OneBufferPerValue)
      plan_ = oneBufferPerValue(plan_);
    if (poison_) {
      // The debug mode checks the plan it runs by, too.
      std::vector<std::string> problems = checkMemoryPlan(*graph_, plan_);
      KILN_ASSERT(problems.empty(), problems.empty() ? "" : problems.front().c_str());
    }
    std::unordered_map<const Value *, int> slot;
    for (const GraphInput &in : graph_->inputs()) {
      slot[in.value.get()] = static_cast<int>(types_.size());
      types_.push_back(in.value->type);
      homes_.push_back(Home{.kind = Home::Input, .index = static_cast<int>(homes_.size())});
    }
    std::unordered_map<const Value *, const PlannedValue *> planned;
    for (const PlannedValue &pv : plan_.values)
      planned[pv.value] = &pv;

    std::unordered_map<const Node *, kernel::FusionGroup> group_of_root;
    std::unordered_set<const Node *> grouped;
    for (kernel::FusionGroup &g : kernel::fusionGroups(*graph_)) {
      grouped.insert(g.members.begin(), g.members.end());
      group_of_root.emplace(g.members.back(), std::move(g));
    }
    std::vector<PostOpChain> chains = matmulPostOps(*graph_, plan_, options.cpu_kernels, threads_);
    std::unordered_map<const Node *, size_t> chain_of_matmul, chain_of_link, step_of;
    for (size_t c = 0; c < chains.size(); ++c) {
      chain_of_matmul[chains[c].matmul] = c;
      for (const Node *link : chains[c].links)
        chain_of_link[link] = c;
    }
    std::vector<kernel::Kernel> kernels;
    std::vector<std::vector<bool>> noalias;
    for (size_t i = 0; i < graph_->nodes().size(); ++i) {
      const Node &n = *graph_->nodes()[i];
      step_of[&n] = steps_.size();
      Step step;
      step.node = &n;
      for (const auto &r : n.results) {
        slot[r.get()] = static_cast<int>(types_.size());
        step.results.push_back(static_cast<int>(types_.size()));
        types_.push_back(r->type);
        auto pv = planned.find(r.get());
        homes_.push_back(pv == planned.end() ? Home{.kind = Home::None} : homeOf(*pv->second));
      }
      for (const Value *v : n.operands)
        step.operands.push_back(slot.at(v));
      std::optional<kernel::Kernel> k;
      std::unique_ptr<onednn::Primitive> primitive;
      std::optional<int64_t> view =
          placement == Placement::Planned ? sliceView(*graph_, n, plan_) : std::nullopt;
      if (n.is(op::AllReduce)) {
        step.all_reduce = true;
      } else if (view) {
        step.view = true;
        homes_[step.results[0]] =
            Home{.kind = Home::Input, .index = n.operands[0]->index, .offset = *view};
        ++views_;
      } else if (auto c = chain_of_link.find(&n); c != chain_of_link.end()) {
        // Computed by the matmul's primitive: its step writes what the chain's end writes.
        step.post_op = true;
        step.in_group = false;
        PostOpChain &chain = chains[c->second];
        if (&n == chain.links.back()) {
          Step &m = steps_[step_of.at(chain.matmul)];
          for (const Value *v : chain.addends)
            m.operands.push_back(slot.at(v));
          m.results = step.results;
          post_ops_ += static_cast<int64_t>(chain.links.size());
        }
      } else if (auto g = group_of_root.find(&n); g != group_of_root.end()) {
        k = kernel::lowerGroup(g->second);
        KILN_ASSERT(k, "a group that does not lower was left in the graph");
        step.operands.clear();
        for (const Value *v : g->second.inputs)
          step.operands.push_back(slot.at(v));
        step.results.clear();
        for (const Value *v : g->second.stored)
          step.results.push_back(slot.at(v));
      } else if (grouped.count(&n)) {
        step.in_group = true;
      } else if (auto c = chain_of_matmul.find(&n); c != chain_of_matmul.end()) {
        step.primitive = static_cast<int>(primitives_.size());
        primitives_.push_back(std::move(chains[c->second].primitive));
      } else if (chooseKernelPath(n, options.cpu_kernels) == KernelPath::OneDnn &&
                 (primitive = onednn::create(n, threads_))) {
        step.primitive = static_cast<int>(primitives_.size());
        primitives_.push_back(std::move(primitive));
      } else if ((k = kernel::lowerNode(n))) {
        k->name = fmt::format("{}_{}", n.name(), i);
      }
      if (k) {
        step.kernel = static_cast<int>(kernels.size());
        step.extent = k->parallelExtent();
        step.work = k->workPerIteration();
        std::vector<int> params = k->parameters();
        KILN_ASSERT(params.size() == step.operands.size() + step.results.size(),
                    "a kernel's parameters are not its node's operands and results");
        for (const kernel::Trap &t : k->traps) {
          auto p = std::find(params.begin(), params.end(), t.buffer);
          KILN_ASSERT(p != params.end(), "a trap reports on a buffer that is no parameter");
          step.traps.push_back(
              StepTrap{t, static_cast<int>(p - params.begin()), k->buffers[t.buffer].dtype});
        }
        noalias.push_back(noaliasFlags(step));
        kernels.push_back(std::move(*k));
        if (std::optional<kernel::Kernel> over = kernel::lowerOverOperand(n)) {
          step.kernel_over_operand = static_cast<int>(kernels.size());
          over->name = fmt::format("{}_{}", over->name, i);
          noalias.push_back(noaliasFlags(step));
          kernels.push_back(std::move(*over));
        }
      } else if (!step.in_group && !step.post_op && !step.view && !step.all_reduce &&
                 step.primitive < 0) {
        ++fallbacks_[std::string(n.name())];
      }
      if (profiling_ && !step.in_group && !step.post_op && !step.view)
        step.profile = profileKind(step, group_of_root.count(&n) > 0);
      steps_.push_back(std::move(step));
    }
    for (const GraphOutput &out : graph_->outputs())
      outputs_.push_back(slot.at(out.value));
    num_kernels_ = static_cast<int64_t>(kernels.size());
    num_groups_ = static_cast<int64_t>(
        std::count_if(group_of_root.begin(), group_of_root.end(),
                      [&](const auto &g) { return !chain_of_link.count(g.first); }));
    if (options.share_kernels)
      shareIdenticalKernels(kernels, noalias);
    num_distinct_kernels_ = static_cast<int64_t>(kernels.size());
    if (!kernels.empty())
      jit_ = JitKernels::compile(JitProgram{kernels, noalias}, options.use_cache, &source_);
    planPoison(slot);
  }

  std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) override {
    checkInputs(inputs);
    std::vector<std::byte *> in;
    // Kernels only read inputs in run(): values homed in an input go to fresh buffers.
    for (const HostBuffer &b : inputs)
      in.push_back(const_cast<std::byte *>(b.data()));
    return execute(in, {});
  }

  std::vector<HostBuffer> runInPlace(std::span<HostBuffer> inputs) override {
    checkInputs(inputs);
    std::vector<std::byte *> in;
    for (HostBuffer &b : inputs)
      in.push_back(b.data());
    return execute(in, inputs);
  }

  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    int64_t fallbacks = 0, in_place = 0, into_inputs = 0;
    for (const auto &[op, count] : fallbacks_)
      fallbacks += count;
    for (const PlannedValue &pv : plan_.values) {
      in_place += pv.reuses != nullptr;
      into_inputs += pv.home == ValueHome::Input;
    }
    std::vector<std::pair<std::string, int64_t>> stats = {
        {"kernels", num_kernels_},
        {"distinct kernels", num_distinct_kernels_},
        {"fused groups", num_groups_},
        {"attention written out as gemms", attention_expanded_},
        {"onednn primitives", static_cast<int64_t>(primitives_.size())},
        {"matmul post-ops", post_ops_},
        {"fallback nodes", fallbacks},
        {"arenas", static_cast<int64_t>(plan_.arena_sizes.size())},
        {"arena bytes", plan_.arenaBytes()},
        {"peak bytes", plan_.peak_bytes},
        {"no reuse bytes", plan_.no_reuse_bytes},
        {"values in place of operands", in_place},
        {"slices read in place", views_},
        {"outputs written into inputs", into_inputs},
        {"threads", threads_},
        {"program from memory cache", jit_ && source_ == CodeSource::MemoryCache},
        {"program from disk cache", jit_ && source_ == CodeSource::DiskCache}};
    for (const auto &[op, count] : fallbacks_)
      stats.emplace_back("fallback " + op, count);
    return stats;
  }

  std::vector<KernelTime> profile() const override {
    std::vector<KernelTime> kinds = profile_;
    std::sort(kinds.begin(), kinds.end(),
              [](const KernelTime &a, const KernelTime &b) { return a.seconds > b.seconds; });
    return kinds;
  }

  const Graph &graph() const { return *graph_; }
  const MemoryPlan &plan() const { return plan_; }

private:
  Home homeOf(const PlannedValue &pv) const {
    switch (pv.home) {
    case ValueHome::Arena:
      return Home{.kind = Home::Arena, .index = pv.arena, .offset = pv.offset};
    case ValueHome::Output:
      return Home{.kind = Home::Output, .index = static_cast<int>(*pv.output)};
    case ValueHome::Input:
      return Home{.kind = Home::UpdatedInput,
                  .index = static_cast<int>(*pv.input),
                  .output = static_cast<int>(*pv.output)};
    }
    return {};
  }

  /// The profile entry of a step's kind of kernel: its op (a group's root op), result type and
  /// path. Steps of the same kind (every layer's) share one entry.
  int profileKind(const Step &step, bool group) {
    const Node &n = *step.node;
    std::string_view path = step.all_reduce       ? "communicator"
                            : step.kernel >= 0    ? "jit"
                            : step.primitive >= 0 ? "onednn"
                                                  : "reference";
    std::string kind =
        fmt::format("{}{} {} [{}]", group ? "fused " : "", n.name(), n.result()->type.str(), path);
    auto [it, fresh] = profile_index_.emplace(kind, static_cast<int>(profile_.size()));
    if (fresh)
      profile_.push_back(KernelTime{.kernel = kind});
    return it->second;
  }

  /// Parameters that may share bytes with another parameter that the kernel writes lose
  /// noalias; several reads of one buffer keep it (LLVM's noalias only orders writes).
  std::vector<bool> noaliasFlags(const Step &step) const {
    std::vector<int> params = step.operands;
    params.insert(params.end(), step.results.begin(), step.results.end());
    std::vector<bool> flags(params.size(), true);
    auto range = [&](int s) {
      const Home &h = homes_[s];
      // In runInPlace an updated input's value is written into the input itself.
      int kind = h.kind == Home::UpdatedInput ? Home::Input : h.kind;
      return std::tuple(kind, h.index, h.offset, h.offset + byteSize(types_[s]));
    };
    for (size_t p = 0; p < params.size(); ++p)
      for (size_t q = p + 1; q < params.size(); ++q) {
        bool writes = p >= step.operands.size() || q >= step.operands.size();
        auto [kp, ip, bp, ep] = range(params[p]);
        auto [kq, iq, bq, eq] = range(params[q]);
        if (writes && kp == kq && ip == iq && bp < eq && bq < ep)
          flags[p] = flags[q] = false;
      }
    return flags;
  }

  /// Keeps one copy of each kernel body: kernels equal but for their names, and compiled with
  /// the same noalias flags, become one function that their steps share.
  void shareIdenticalKernels(std::vector<kernel::Kernel> &kernels,
                             std::vector<std::vector<bool>> &noalias) {
    std::unordered_map<std::string, int> index;
    std::vector<int> remap;
    std::vector<kernel::Kernel> distinct;
    std::vector<std::vector<bool>> distinct_noalias;
    for (size_t j = 0; j < kernels.size(); ++j) {
      std::string key = kernel::identity(kernels[j]) + "noalias ";
      for (bool b : noalias[j])
        key += b ? '1' : '0';
      auto [it, fresh] = index.emplace(std::move(key), static_cast<int>(distinct.size()));
      if (fresh) {
        distinct.push_back(std::move(kernels[j]));
        distinct_noalias.push_back(std::move(noalias[j]));
      }
      remap.push_back(it->second);
    }
    for (Step &step : steps_) {
      if (step.kernel >= 0)
        step.kernel = remap[step.kernel];
      if (step.kernel_over_operand >= 0)
        step.kernel_over_operand = remap[step.kernel_over_operand];
    }
    kernels = std::move(distinct);
    noalias = std::move(distinct_noalias);
  }

  /// In poisoning mode, each arena value dies after its last step, unless a value written in
  /// place of it takes over its bytes there.
  void planPoison(const std::unordered_map<const Value *, int> &slot) {
    if (!poison_)
      return;
    std::unordered_set<const Value *> reused;
    for (const PlannedValue &pv : plan_.values)
      if (pv.reuses)
        reused.insert(pv.reuses);
    for (const PlannedValue &pv : plan_.values)
      if (pv.home == ValueHome::Arena && !reused.count(pv.value) &&
          homes_[slot.at(pv.value)].kind == Home::Arena)
        steps_[pv.last].poison.push_back(slot.at(pv.value));
  }

  void poison(const std::vector<int> &slots, const std::vector<std::byte *> &addr) const {
    for (int s : slots)
      if (byteSize(types_[s]) > 0)
        std::memset(addr[s], kPoison, static_cast<size_t>(byteSize(types_[s])));
  }

  void allocateArenas() {
    if (arenas_.size() == plan_.arena_sizes.size())
      return;
    for (int64_t size : plan_.arena_sizes) {
      auto n = static_cast<size_t>(std::max<int64_t>(size, kPlanAlignment));
      arenas_.emplace_back(static_cast<std::byte *>(
          ::operator new[](n, std::align_val_t(static_cast<size_t>(kPlanAlignment)))));
    }
  }

  /// One run; `in_place` holds the caller's inputs when they may be overwritten.
  std::vector<HostBuffer> execute(const std::vector<std::byte *> &inputs,
                                  std::span<HostBuffer> in_place) {
    bool updating = !in_place.empty();
    allocateArenas();
    if (poison_)
      for (size_t a = 0; a < arenas_.size(); ++a)
        std::memset(arenas_[a].get(), kPoison, static_cast<size_t>(plan_.arena_sizes[a]));
    std::vector<HostBuffer> out(outputs_.size());
    std::vector<std::byte *> addr(types_.size(), nullptr);
    for (size_t s = 0; s < types_.size(); ++s) {
      const Home &h = homes_[s];
      if (h.kind == Home::None) {
        continue;
      } else if (h.kind == Home::Input || (h.kind == Home::UpdatedInput && updating)) {
        addr[s] = inputs[h.index] + h.offset;
      } else if (h.kind == Home::Arena) {
        addr[s] = arenas_[h.index].get() + h.offset;
      } else {
        int k = h.kind == Home::Output ? h.index : h.output;
        out[k] = HostBuffer(types_[s]);
        addr[s] = out[k].data();
      }
    }
    std::optional<onednn::ScopedThreads> threads;
    if (!primitives_.empty())
      threads.emplace(threads_);
    std::vector<InFlight> in_flight;
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step &step = steps_[i];
      auto start = step.profile >= 0 ? std::chrono::steady_clock::now()
                                     : std::chrono::steady_clock::time_point();
      if (!in_flight.empty())
        awaitOperands(step, in_flight);
      if (step.all_reduce)
        startAllReduce(step, addr, in_flight);
      else if (step.kernel >= 0)
        runJit(step, addr);
      else if (step.primitive >= 0)
        runPrimitive(step, addr);
      else if (!step.in_group && !step.post_op && !step.view)
        runReference(step, addr);
      if (step.profile >= 0) {
        KernelTime &t = profile_[step.profile];
        ++t.calls;
        t.seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      if (i + 1 < steps_.size())
        poison(step.poison, addr);
    }
    for (InFlight &f : in_flight)
      f.reduce->wait();
    finishOutputs(out, addr, in_place);
    if (!steps_.empty())
      poison(steps_.back().poison, addr);
    return out;
  }

  /// Copies outputs that do not live in their own buffers, first into fresh buffers (a plain
  /// output may be an input's old value), then, in place, those that update an input into it.
  void finishOutputs(std::vector<HostBuffer> &out, const std::vector<std::byte *> &addr,
                     std::span<HostBuffer> in_place) const {
    bool updating = !in_place.empty();
    const auto &sig = signature().outputs;
    std::vector<bool> in_input(outputs_.size(), false);
    for (size_t k = 0; k < outputs_.size(); ++k) {
      int s = outputs_[k];
      const Home &h = homes_[s];
      if (updating && sig[k].updates) {
        int u = static_cast<int>(*sig[k].updates);
        in_input[k] = (h.kind == Home::Input || h.kind == Home::UpdatedInput) && h.index == u;
      }
      bool own = (h.kind == Home::Output && h.index == static_cast<int>(k)) ||
                 (h.kind == Home::UpdatedInput && h.output == static_cast<int>(k) && !updating);
      if (!own && !in_input[k])
        out[k] = HostBuffer(types_[s], {addr[s], static_cast<size_t>(byteSize(types_[s]))});
    }
    if (!updating)
      return;
    for (size_t k = 0; k < outputs_.size(); ++k) {
      if (!sig[k].updates)
        continue;
      if (!in_input[k] && out[k].byteSize() > 0)
        std::memcpy(in_place[*sig[k].updates].data(), out[k].data(), out[k].byteSize());
      out[k] = HostBuffer();
    }
  }

  /// A sum over the group that is still running, and the value slot it writes.
  struct InFlight {
    int slot;
    std::unique_ptr<PendingReduce> reduce;
  };

  /// Waits for the sums whose results the step reads, and lets the others progress.
  static void awaitOperands(const Step &step, std::vector<InFlight> &in_flight) {
    std::erase_if(in_flight, [&](InFlight &f) {
      if (std::find(step.operands.begin(), step.operands.end(), f.slot) == step.operands.end())
        return false;
      f.reduce->wait();
      return true;
    });
    if (!in_flight.empty())
      in_flight.front().reduce->test();
  }

  /// Copies the operand into the result's buffer and starts the sum over the group there.
  void startAllReduce(const Step &step, const std::vector<std::byte *> &addr,
                      std::vector<InFlight> &in_flight) const {
    int from = step.operands.at(0), to = step.results.at(0);
    int64_t bytes = byteSize(types_[to]);
    if (addr[from] != addr[to] && bytes > 0)
      std::memmove(addr[to], addr[from], static_cast<size_t>(bytes));
    if (!communicator_ || communicator_->size() == 1)
      return;
    auto reduce =
        communicator_->startAllReduceSum(addr[to], types_[to].numElements(), types_[to].dtype);
    if (overlap_)
      in_flight.push_back(InFlight{to, std::move(reduce)});
    else
      reduce->wait();
  }

  /// A step's buffers as its kernel takes them: operands, then results.
  static std::vector<void *> buffersOf(const Step &step, const std::vector<std::byte *> &addr) {
    std::vector<void *> buffers;
    for (int s : step.operands)
      buffers.push_back(addr[s]);
    for (int s : step.results)
      buffers.push_back(addr[s]);
    return buffers;
  }

  void runJit(const Step &step, const std::vector<std::byte *> &addr) const {
    std::vector<void *> buffers = buffersOf(step, addr);
    std::vector<int64_t> trap_slots(step.traps.size(), kernel::kTrapClear);
    if (!trap_slots.empty())
      buffers.push_back(trap_slots.data());
    bool over_operand = step.kernel_over_operand >= 0 && !step.operands.empty() &&
                        addr[step.operands[0]] == addr[step.results.at(0)];
    int kernel = over_operand ? step.kernel_over_operand : step.kernel;
    runKernel(jit_->function(kernel), buffers.data(), step.extent, step.work, threads_);
    for (size_t t = 0; t < trap_slots.size(); ++t) {
      if (trap_slots[t] == kernel::kTrapClear)
        continue;
      const StepTrap &st = step.traps[t];
      auto *data = static_cast<const std::byte *>(buffers[st.param]);
      throw Error(step.node->loc,
                  kernel::trapMessage(st.trap, elementAsInt(data, st.dtype, trap_slots[t])));
    }
  }

  void runPrimitive(const Step &step, const std::vector<std::byte *> &addr) const {
    primitives_[step.primitive]->run(buffersOf(step, addr));
  }

  void runReference(const Step &step, const std::vector<std::byte *> &addr) const {
    std::vector<Literal> args;
    args.reserve(step.operands.size());
    // Every operand is read before any result is written, so in-place results are safe here.
    for (size_t j = 0; j < step.operands.size(); ++j) {
      int s = step.operands[j];
      std::span<const std::byte> bytes(addr[s], static_cast<size_t>(byteSize(types_[s])));
      if (std::optional<int64_t> e = firstInexactInteger(types_[s].dtype, bytes))
        throw Error(step.node->loc,
                    fmt::format("element {} of operand {} holds {}: the {} runs on its reference "
                                "kernel here, which computes integers exactly up to 2^53 only",
                                *e, j, elementAsInt(addr[s], DType::i64, *e), step.node->name()));
      args.push_back(Literal::fromBytes(types_[s], bytes));
    }
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
      std::copy(bytes.begin(), bytes.end(), addr[step.results[i]]);
    }
  }

  std::unique_ptr<Graph> graph_;
  MemoryPlan plan_;
  std::shared_ptr<const JitKernels> jit_;
  CodeSource source_ = CodeSource::Compiled;
  std::vector<TensorType> types_;
  std::vector<Home> homes_; ///< per value slot: inputs, then node results in schedule order
  std::vector<Step> steps_;
  std::vector<std::unique_ptr<onednn::Primitive>> primitives_;
  std::vector<int> outputs_;
  std::vector<ArenaBytes> arenas_;
  int threads_ = 1;
  bool poison_ = false;
  bool profiling_ = false;
  Communicator *communicator_ = nullptr;
  bool overlap_ = true;
  std::vector<KernelTime> profile_;
  std::unordered_map<std::string, int> profile_index_;
  int64_t post_ops_ = 0;
  int64_t views_ = 0; ///< slices read where their input holds them
  int64_t num_kernels_ = 0, num_distinct_kernels_ = 0, num_groups_ = 0;
  int64_t attention_expanded_ = 0; ///< attention nodes written out by expand-attention
  std::map<std::string, int64_t> fallbacks_;
};

} // namespace

std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &options,
                                         Placement placement) {
  return std::make_unique<CpuExecutable>(graph, options, placement);
}

std::vector<std::string> checkExecutablePlan(const Executable &exe) {
  const auto *cpu = dynamic_cast<const CpuExecutable *>(&exe);
  if (!cpu)
    return {"not an executable of the cpu backend"};
  return checkMemoryPlan(cpu->graph(), cpu->plan());
}

} // namespace kiln::cpu
