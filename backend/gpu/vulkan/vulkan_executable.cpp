// Runs a graph on a Vulkan device as a schedule of steps in node order, as the CPU backend
// does (the same lowering, fusion groups and memory plan): a dispatch of a kernel's compute
// pipeline, or a node's reference kernel on the host. Dispatches between two host steps are
// recorded once, at compile time, into one command buffer (vulkan_commands.h); a run writes
// the inputs into their device buffers, submits each command buffer in turn and waits for it,
// runs the host steps in between on bytes read back from the device, and reads the outputs.
//
// Values live where the memory plan puts them: intermediates at their offsets in arenas, one
// device buffer each (the plan splits them so that none exceeds maxStorageBufferRange, and
// aligns offsets to minStorageBufferOffsetAlignment), outputs in buffers of their own, and the
// next values of parameters and state in their inputs' device buffers, which are the
// executable's copies: the caller's inputs are never written. A kernel with traps gets its
// error slots in one trap buffer shared by every step; they are cleared before each run and
// read after each command buffer, and the first trap set, in step order, is the error.

#include "backend/gpu/vulkan/vulkan_executable.h"

#include "backend/gpu/vulkan/vulkan_buffer.h"
#include "backend/gpu/vulkan/vulkan_commands.h"
#include "backend/kernel/lower.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace kiln::vulkan {
namespace {

int64_t byteSize(const TensorType &t) { return t.numElements() * dtypeSize(t.dtype); }

int64_t alignUp(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

/// Where a value's bytes are on the device.
struct Home {
  enum Kind { Input, Arena, Output, None } kind = None; ///< None: inside a kernel
  int index = 0;                                        ///< the input, arena or output
  int64_t offset = 0;                                   ///< bytes from the start of the arena
};

/// A trap of a dispatch and the binding that holds the values it reports.
struct StepTrap {
  kernel::Trap trap;
  int param = 0;
  DType dtype = DType::i64;
};

/// One dispatch of the schedule.
struct KernelStep {
  const Node *node = nullptr;  ///< the node, or a group's root
  std::vector<int> params;     ///< value slots: operands, then results
  std::vector<StepTrap> traps; ///< the kernel's traps
  int64_t trap_offset = 0;     ///< its error slots in the trap buffer
};

/// Nodes evaluated on the host, in order: one node without a kernel, or a fusion group whose
/// kernel the compiler left empty.
struct HostStep {
  std::vector<const Node *> nodes;
  std::vector<int> inputs; ///< value slots read from the device
  std::vector<int> stored; ///< value slots written back
  std::vector<const Value *> input_values, stored_values;
};

/// Dispatches recorded together, then a host step (or none at the end).
struct Segment {
  std::vector<KernelStep> kernels;
  std::vector<Dispatch> dispatches; ///< until recorded
  std::unique_ptr<CommandList> commands;
  std::optional<HostStep> host;
};

/// One element's bytes as an integer (for trap messages).
int64_t elementAsInt(std::span<const std::byte> bytes, DType dtype) {
  Literal l = Literal::fromBytes(TensorType{dtype, {1}}, bytes);
  return static_cast<int64_t>(l.data[0]);
}

class VulkanExecutable final : public Executable {
public:
  VulkanExecutable(const Graph &graph, std::shared_ptr<const Device> device, PipelineCache &cache,
                   const SpirvCompiler &compiler)
      : Executable(signatureOf(graph)), graph_(graph.clone()), device_(std::move(device)) {
    // The graph preparation the CPU backend shares: groups that cannot be one kernel are
    // dissolved, so that the plan and the schedule agree.
    kernel::dropUnlowerableGroups(*graph_);
    const Limits &limits = device_->limits();
    plan_ = planMemory(*graph_, planOptionsFor(limits));
    align_ = std::max<int64_t>(limits.min_storage_offset_alignment, kPlanAlignment);

    std::unordered_map<const Value *, int> slot;
    for (const GraphInput &in : graph_->inputs()) {
      slot[in.value.get()] = static_cast<int>(types_.size());
      checkBindable(in.value->type, fmt::format("input \"{}\"", in.name));
      homes_.push_back(Home{.kind = Home::Input, .index = static_cast<int>(inputs_.size())});
      types_.push_back(in.value->type);
      inputs_.push_back(std::make_unique<Buffer>(device_, byteSize(in.value->type) + kPadding));
    }
    std::unordered_map<const Value *, const PlannedValue *> planned;
    for (const PlannedValue &pv : plan_.values)
      planned[pv.value] = &pv;
    for (int64_t size : plan_.arena_sizes)
      arenas_.push_back(std::make_unique<Buffer>(device_, size + kPadding));
    outputs_.resize(graph_->outputs().size());
    for (const PlannedValue &pv : plan_.values)
      if (pv.home == ValueHome::Output) {
        checkBindable(pv.value->type,
                      fmt::format("output \"{}\"", graph_->outputs()[*pv.output].name));
        outputs_[*pv.output] = std::make_unique<Buffer>(device_, pv.size + kPadding);
      }

    std::unordered_map<const Node *, kernel::FusionGroup> group_of_root;
    std::unordered_set<const Node *> grouped;
    for (kernel::FusionGroup &g : kernel::fusionGroups(*graph_)) {
      grouped.insert(g.members.begin(), g.members.end());
      group_of_root.emplace(g.members.back(), std::move(g));
    }
    segments_.emplace_back();
    int64_t trap_bytes = 0;
    std::unordered_set<const Pipeline *> distinct;
    for (size_t i = 0; i < graph_->nodes().size(); ++i) {
      const Node &n = *graph_->nodes()[i];
      for (const auto &r : n.results) {
        slot[r.get()] = static_cast<int>(types_.size());
        types_.push_back(r->type);
        auto pv = planned.find(r.get());
        homes_.push_back(pv == planned.end() ? Home{} : homeOf(*pv->second));
      }
      if (grouped.count(&n) && !group_of_root.count(&n))
        continue; // computed at its group's root
      HostStep host;
      std::optional<kernel::Kernel> k;
      if (auto g = group_of_root.find(&n); g != group_of_root.end()) {
        k = kernel::lowerGroup(g->second);
        KILN_ASSERT(k, "a group that does not lower was left in the graph");
        host.nodes = g->second.members;
        host.input_values = g->second.inputs;
        host.stored_values = g->second.stored;
      } else {
        if ((k = kernel::lowerNode(n)))
          k->name = fmt::format("{}_{}", n.name(), i);
        host.nodes = {&n};
        host.input_values.assign(n.operands.begin(), n.operands.end());
        for (const auto &r : n.results)
          host.stored_values.push_back(r.get());
      }
      for (const Value *v : host.input_values)
        host.inputs.push_back(slot.at(v));
      for (const Value *v : host.stored_values)
        host.stored.push_back(slot.at(v));

      CachedKernel compiled;
      if (k && runsOnDevice(*k))
        compiled = kernelOf(*k, cache, compiler);
      std::shared_ptr<const Pipeline> pipeline = compiled.pipeline;
      if (!pipeline) {
        for (const Node *m : host.nodes)
          ++fallbacks_[std::string(m->name())];
        segments_.back().host = std::move(host);
        segments_.emplace_back();
        continue;
      }
      ++num_kernels_;
      distinct.insert(pipeline.get());
      if (compiled.workgroups == 0)
        continue; // an empty kernel: nothing to run
      KernelStep step{.node = &n, .params = host.inputs};
      step.params.insert(step.params.end(), host.stored.begin(), host.stored.end());
      std::vector<int> params = k->parameters();
      KILN_ASSERT(params.size() == step.params.size(),
                  "a kernel's parameters are not its node's operands and results");
      Dispatch d{.pipeline = pipeline, .workgroups = compiled.workgroups};
      for (size_t p = 0; p < step.params.size(); ++p) {
        BufferRange r = rangeOf(step.params[p]);
        r.written = p >= host.inputs.size();
        d.bindings.push_back(r);
      }
      for (const kernel::Trap &t : k->traps) {
        auto p = std::find(params.begin(), params.end(), t.buffer);
        KILN_ASSERT(p != params.end(), "a trap reports on a buffer that is no parameter");
        step.traps.push_back(
            StepTrap{t, static_cast<int>(p - params.begin()), k->buffers[t.buffer].dtype});
      }
      if (!step.traps.empty()) {
        step.trap_offset = trap_bytes;
        trap_bytes = alignUp(trap_bytes + 8 * static_cast<int64_t>(step.traps.size()), align_);
      }
      KILN_ASSERT(pipeline->bindings() ==
                      static_cast<int>(step.params.size()) + (step.traps.empty() ? 0 : 1),
                  "a pipeline's bindings differ from its kernel's parameters");
      segments_.back().dispatches.push_back(std::move(d));
      segments_.back().kernels.push_back(std::move(step));
    }
    for (const GraphOutput &out : graph_->outputs())
      output_slots_.push_back(slot.at(out.value));
    num_distinct_kernels_ = static_cast<int64_t>(distinct.size());

    // The trap buffer's size is known once every step has its error slots.
    if (trap_bytes > 0)
      traps_ = std::make_unique<Buffer>(device_, trap_bytes);
    recordSegments();
  }

  std::vector<HostBuffer> run(std::span<const HostBuffer> inputs) override {
    checkInputs(inputs);
    for (size_t i = 0; i < inputs.size(); ++i)
      inputs_[i]->write(0, inputs[i].bytes());
    if (traps_) {
      std::vector<int64_t> clear(static_cast<size_t>(traps_->size() / 8), kernel::kTrapClear);
      traps_->write(0, std::as_bytes(std::span(clear)));
    }
    for (const Segment &s : segments_) {
      if (s.commands)
        s.commands->run();
      checkTraps(s);
      if (s.host)
        runHost(*s.host);
    }
    std::vector<HostBuffer> out;
    for (size_t k = 0; k < output_slots_.size(); ++k) {
      int s = output_slots_[k];
      const Value *v = graph_->outputs()[k].value;
      if (!v->def) {
        out.push_back(inputs[v->index]); // an input's old value, which no step overwrote here
        continue;
      }
      out.push_back(read(s));
    }
    return out;
  }

  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    int64_t fallbacks = 0, barriers = 0, lists = 0;
    for (const auto &[op, count] : fallbacks_)
      fallbacks += count;
    for (const Segment &s : segments_)
      if (s.commands) {
        barriers += s.commands->barriers();
        ++lists;
      }
    std::vector<std::pair<std::string, int64_t>> stats = {
        {"kernels", num_kernels_},
        {"distinct kernels", num_distinct_kernels_},
        {"fallback nodes", fallbacks},
        {"command buffers", lists},
        {"barriers", barriers},
        {"arenas", static_cast<int64_t>(plan_.arena_sizes.size())},
        {"arena bytes", plan_.arenaBytes()},
        {"peak bytes", plan_.peak_bytes},
        {"max buffer bytes", plan_.max_buffer_bytes}};
    for (const auto &[op, count] : fallbacks_)
      stats.emplace_back("fallback " + op, count);
    return stats;
  }

private:
  /// Bytes past the end of every buffer, so that an empty value still has bytes to bind.
  static constexpr int64_t kPadding = 16;

  Home homeOf(const PlannedValue &pv) const {
    switch (pv.home) {
    case ValueHome::Arena:
      return Home{.kind = Home::Arena, .index = pv.arena, .offset = pv.offset};
    case ValueHome::Output:
      return Home{.kind = Home::Output, .index = static_cast<int>(*pv.output)};
    case ValueHome::Input:
      return Home{.kind = Home::Input, .index = static_cast<int>(*pv.input)};
    }
    return {};
  }

  void checkBindable(const TensorType &t, const std::string &what) const {
    int64_t limit = device_->limits().max_storage_buffer_range;
    if (byteSize(t) > limit)
      throw Error({}, fmt::format("--backend vulkan: {} ({}) needs {} bytes, more than the {} "
                                  "bytes one storage buffer of {} may bind",
                                  what, t.str(), byteSize(t), limit, device_->name()));
  }

  /// Whether the device has what the kernel's buffers need (f64 arithmetic).
  bool runsOnDevice(const kernel::Kernel &k) const {
    for (const kernel::Buffer &b : k.buffers)
      if (b.dtype == DType::f64 && !device_->features().float64)
        return false;
    return true;
  }

  /// The pipeline of a kernel, compiled once per identity; its pipeline is nullptr when the
  /// compiler leaves it empty.
  CachedKernel kernelOf(const kernel::Kernel &k, PipelineCache &cache,
                        const SpirvCompiler &compiler) const {
    std::string id = kernel::identity(k);
    if (const CachedKernel *c = cache.find(id))
      return *c;
    spirv::SpirvKernel compiled = compiler(k);
    if (compiled.binary.empty())
      return cache.insert(id, CachedKernel{});
    if (compiled.workgroups < 0 ||
        compiled.workgroups > static_cast<int64_t>(device_->limits().max_workgroups_x))
      throw Error({}, fmt::format("--backend vulkan: kernel {} needs {} workgroups; {} "
                                  "dispatches 0 to {}",
                                  k.name, compiled.workgroups, device_->name(),
                                  device_->limits().max_workgroups_x));
    int bindings = static_cast<int>(k.parameters().size()) + (k.traps.empty() ? 0 : 1);
    return cache.insert(id, CachedKernel{std::make_shared<const Pipeline>(device_, compiled.binary,
                                                                          bindings, k.name),
                                         static_cast<uint32_t>(compiled.workgroups)});
  }

  /// The device buffer that holds a value slot (the executable's own: runs write into it).
  Buffer &bufferOf(int s) const {
    const Home &h = homes_[s];
    KILN_ASSERT(h.kind != Home::None, "a value inside a kernel has no buffer");
    return h.kind == Home::Input   ? *inputs_[h.index]
           : h.kind == Home::Arena ? *arenas_[h.index]
                                   : *outputs_[h.index];
  }

  /// The device bytes of a value slot.
  BufferRange rangeOf(int s) const {
    return BufferRange{
        .buffer = &bufferOf(s), .offset = homes_[s].offset, .size = byteSize(types_[s])};
  }

  /// Gives the error-slot bindings the trap buffer and records each segment's dispatches.
  void recordSegments() {
    for (Segment &s : segments_) {
      if (s.dispatches.empty())
        continue;
      for (size_t d = 0; d < s.dispatches.size(); ++d) {
        const KernelStep &step = s.kernels[d];
        if (!step.traps.empty())
          s.dispatches[d].bindings.push_back(
              BufferRange{.buffer = traps_.get(),
                          .offset = step.trap_offset,
                          .size = 8 * static_cast<int64_t>(step.traps.size()),
                          .written = true});
      }
      s.commands = std::make_unique<CommandList>(device_, std::move(s.dispatches));
      s.dispatches.clear();
    }
  }

  /// Throws the first trap set in a segment's dispatches.
  void checkTraps(const Segment &s) const {
    for (const KernelStep &step : s.kernels) {
      if (step.traps.empty())
        continue;
      std::vector<int64_t> slots(step.traps.size());
      traps_->read(step.trap_offset, std::as_writable_bytes(std::span(slots)));
      for (size_t t = 0; t < slots.size(); ++t) {
        if (slots[t] == kernel::kTrapClear)
          continue;
        const StepTrap &st = step.traps[t];
        BufferRange r = rangeOf(step.params[st.param]);
        std::vector<std::byte> element(static_cast<size_t>(dtypeSize(st.dtype)));
        r.buffer->read(r.offset + slots[t] * dtypeSize(st.dtype), element);
        throw Error(step.node->loc, kernel::trapMessage(st.trap, elementAsInt(element, st.dtype)));
      }
    }
  }

  HostBuffer read(int s) const {
    BufferRange r = rangeOf(s);
    HostBuffer out(types_[s]);
    r.buffer->read(r.offset, std::span(out.data(), static_cast<size_t>(byteSize(types_[s]))));
    return out;
  }

  /// Evaluates a host step's nodes on their reference kernels.
  void runHost(const HostStep &h) const {
    std::unordered_map<const Value *, Literal> values;
    for (size_t j = 0; j < h.inputs.size(); ++j) {
      HostBuffer b = read(h.inputs[j]);
      if (std::optional<int64_t> e = firstInexactInteger(b.type().dtype, b.bytes()))
        throw Error(h.nodes.front()->loc,
                    fmt::format("element {} of an operand holds an integer beyond 2^53: the {} "
                                "runs on its reference kernel here, which computes integers "
                                "exactly up to 2^53 only",
                                *e, h.nodes.front()->name()));
      values.emplace(h.input_values[j], Literal::fromBytes(b.type(), b.bytes()));
    }
    for (const Node *n : h.nodes) {
      std::vector<const Literal *> args;
      for (const Value *v : n->operands)
        args.push_back(&values.at(v));
      std::vector<Literal> results = n->op->reference(*n, args);
      KILN_ASSERT(results.size() == n->results.size(), "kernel returned a wrong result count");
      for (size_t i = 0; i < results.size(); ++i) {
        results[i].type = n->results[i]->type;
        results[i].roundToDType();
        values.insert_or_assign(n->results[i].get(), std::move(results[i]));
      }
    }
    for (size_t j = 0; j < h.stored.size(); ++j) {
      std::vector<std::byte> bytes = values.at(h.stored_values[j]).toBytes();
      bufferOf(h.stored[j]).write(homes_[h.stored[j]].offset, bytes);
    }
  }

  std::unique_ptr<Graph> graph_;
  std::shared_ptr<const Device> device_;
  MemoryPlan plan_;
  int64_t align_ = kPlanAlignment;
  std::vector<TensorType> types_;
  std::vector<Home> homes_; ///< per value slot: inputs, then node results in node order
  std::vector<std::unique_ptr<Buffer>> inputs_, arenas_, outputs_;
  std::unique_ptr<Buffer> traps_;
  std::vector<Segment> segments_;
  std::vector<int> output_slots_;
  int64_t num_kernels_ = 0, num_distinct_kernels_ = 0;
  std::map<std::string, int64_t> fallbacks_;
};

} // namespace

PlanOptions planOptionsFor(const Limits &limits) {
  int64_t align = kPlanAlignment;
  while (align % limits.min_storage_offset_alignment != 0)
    align *= 2;
  return PlanOptions{.max_buffer_bytes = limits.max_storage_buffer_range, .alignment = align};
}

std::unique_ptr<Executable> compileGraph(const Graph &graph, const CompileOptions &,
                                         std::shared_ptr<const Device> device, PipelineCache &cache,
                                         const SpirvCompiler &compiler) {
  return std::make_unique<VulkanExecutable>(graph, std::move(device), cache, compiler);
}

} // namespace kiln::vulkan
