#include "backend/memory_plan.h"

#include "ir/printer.h"

#include "ir/fusion_group.h"
#include "ir/op_handles.h"

#include <algorithm>
#include <fmt/format.h>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

int64_t alignUp(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

int64_t byteSize(const TensorType &t) { return t.numElements() * dtypeSize(t.dtype); }

bool isReduction(const Node &n) {
  return n.is(op::ReduceSum) || n.is(op::ReduceMax) || n.is(op::ReduceMean);
}

/// Steps of nodes and last readers of values: what liveness is computed from. A fusion group
/// (Node::group) is one step at its root's position: every member runs there, and the results
/// of members that are neither the root nor a graph output never leave the group's kernel.
struct Schedule {
  std::unordered_map<const Node *, int> step;
  std::unordered_map<const Value *, int> last_read; ///< absent: never read by a node
  std::unordered_set<const Value *> outputs;
  std::unordered_set<const Value *> internal;      ///< group values that get no buffer
  std::vector<std::vector<const Value *>> read_at; ///< per step, the values read from outside
  std::vector<const Node *> order;                 ///< nodes by step, then graph order
  int num_steps = 0;

  explicit Schedule(const Graph &g) {
    num_steps = static_cast<int>(g.nodes().size());
    for (const auto &o : g.outputs())
      outputs.insert(o.value);
    std::unordered_map<int, int> root_step;
    for (int s = 0; s < num_steps; ++s)
      if (int id = g.nodes()[s]->group; id >= 0)
        root_step[id] = s; // the last member is the root
    read_at.resize(num_steps);
    for (int s = 0; s < num_steps; ++s) {
      const Node *n = g.nodes()[s].get();
      int at = n->group >= 0 ? root_step.at(n->group) : s;
      step[n] = at;
      order.push_back(n);
      if (at != s)
        for (const auto &r : n->results)
          if (!outputs.count(r.get()))
            internal.insert(r.get());
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](const Node *a, const Node *b) { return step.at(a) < step.at(b); });
    for (const Node *n : order) {
      int at = step.at(n);
      for (const Value *v : n->operands) {
        if (internal.count(v))
          continue;
        // Steps only grow along `order`, so the last write is the last reader.
        last_read[v] = at;
        auto &reads = read_at[at];
        if (std::find(reads.begin(), reads.end(), v) == reads.end())
          reads.push_back(v);
      }
    }
  }
  int lastRead(const Value *v) const {
    auto it = last_read.find(v);
    return it == last_read.end() ? -1 : it->second;
  }
  int stepOf(const Value *v) const { return step.at(v->def); }
};

/// Whether the step that writes `v` may write it over `operand` while it reads it: each of its
/// reads of the operand is of the element it writes, before it writes it. One node needs to be
/// elementwise over a full-shape operand; a group's kernel reads a value of its loop shape only
/// where it writes, and computes a whole element before storing it, except a key that it
/// reads whole at every element.
bool canOverwrite(const Schedule &sched, const Value *v, const Value *operand) {
  const Node &n = *v->def;
  if (n.group < 0) {
    for (size_t j = 0; j < n.operands.size(); ++j)
      if (n.operands[j] == operand && !canWriteInPlace(n, j))
        return false;
    return true;
  }
  const TensorType &in = operand->type, &out = v->type;
  bool read_here = sched.lastRead(operand) >= sched.stepOf(v);
  bool read_whole = std::any_of(operand->users.begin(), operand->users.end(), [&](const Node *u) {
    return u->group == n.group && readsWhole(*u, operand);
  });
  if (read_here && read_whole)
    return false;
  return !isReduction(n) &&
         (!read_here || (in.shape == out.shape && dtypeSize(in.dtype) == dtypeSize(out.dtype)));
}

/// Whether the producer of `v` may write it straight into input `in`'s buffer: nothing reads
/// the input after that step, at that step only the producer reads it, elementwise, and the
/// input's old value is not itself an output.
bool canWriteIntoInput(const Schedule &sched, const Value *v, const Value *in) {
  if (sched.outputs.count(in))
    return false;
  int p = sched.stepOf(v), read = sched.lastRead(in);
  if (read < p)
    return true;
  if (read > p)
    return false;
  return canOverwrite(sched, v, in);
}

/// A block of arena bytes shared by a chain of in-place values, packed as one.
struct Block {
  int64_t size = 0;
  int first = 0, last = 0;
  int arena = -1;
  int64_t offset = 0;
};

/// The best-fit offset for `b` in one arena among the blocks already there that overlap it in
/// time, or nullopt when it does not fit under the limit.
std::optional<int64_t> bestFit(const std::vector<Block> &blocks, const std::vector<size_t> &placed,
                               const Block &b, int64_t limit, int64_t align) {
  std::vector<const Block *> busy;
  for (size_t id : placed)
    if (blocks[id].first <= b.last && b.first <= blocks[id].last)
      busy.push_back(&blocks[id]);
  std::sort(busy.begin(), busy.end(), [](const Block *x, const Block *y) {
    return x->offset != y->offset ? x->offset < y->offset : x->size < y->size;
  });
  int64_t cursor = 0, best_gap = std::numeric_limits<int64_t>::max();
  std::optional<int64_t> best;
  for (const Block *x : busy) {
    if (cursor + b.size <= x->offset && x->offset - cursor < best_gap) {
      best = cursor;
      best_gap = x->offset - cursor;
    }
    cursor = std::max(cursor, alignUp(x->offset + x->size, align));
  }
  if (best)
    return best;
  if (limit > 0 && cursor + b.size > limit)
    return std::nullopt;
  return cursor;
}

/// Greedy by size: the largest block first, each at its best fit in the first arena it fits.
std::vector<int64_t> packBlocks(std::vector<Block> &blocks, int64_t limit, int64_t align) {
  std::vector<size_t> order(blocks.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const Block &a = blocks[x], &b = blocks[y];
    return a.size != b.size ? a.size > b.size : a.first < b.first;
  });
  std::vector<std::vector<size_t>> arenas;
  std::vector<int64_t> sizes;
  for (size_t id : order) {
    Block &b = blocks[id];
    for (size_t a = 0; a < arenas.size() && b.arena < 0; ++a) {
      if (auto off = bestFit(blocks, arenas[a], b, limit, align)) {
        b.arena = static_cast<int>(a);
        b.offset = *off;
      }
    }
    if (b.arena < 0) {
      b.arena = static_cast<int>(arenas.size());
      b.offset = 0;
      arenas.emplace_back();
      sizes.push_back(0);
    }
    arenas[b.arena].push_back(id);
    sizes[b.arena] = std::max(sizes[b.arena], b.offset + b.size);
  }
  return sizes;
}

} // namespace

int64_t MemoryPlan::arenaBytes() const {
  int64_t total = 0;
  for (int64_t s : arena_sizes)
    total += s;
  return total;
}

const PlannedValue *MemoryPlan::find(const Value *v) const {
  for (const auto &pv : values)
    if (pv.value == v)
      return &pv;
  return nullptr;
}

bool isElementwise(const Node &node) { return node.results.size() == 1 && node.op->elementwise; }

bool canWriteInPlace(const Node &node, size_t operand) {
  // dynamic_update_slice copies its operand element by element, then writes the box.
  if (node.is(op::DynamicUpdateSlice))
    return operand == 0;
  if (!isElementwise(node) || operand >= node.operands.size())
    return false;
  // Equal shapes rule out broadcasting; equal element sizes let a cast to i32 overwrite f32.
  const TensorType &in = node.operands[operand]->type, &out = node.result()->type;
  return in.shape == out.shape && dtypeSize(in.dtype) == dtypeSize(out.dtype);
}

MemoryPlan planMemory(const Graph &graph, const PlanOptions &options) {
  Schedule sched(graph);
  MemoryPlan plan;
  plan.num_steps = sched.num_steps;
  plan.max_buffer_bytes = options.max_buffer_bytes;
  auto names = valueNames(graph);

  // Outputs first: those updating an input claim their value before plain outputs do, so a
  // value that is both is written into the input and the other output copies it.
  std::unordered_map<const Value *, size_t> updating, plain;
  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    const GraphOutput &o = graph.outputs()[k];
    auto in = graph.updatedInput(o);
    if (!in)
      continue;
    const TensorType &want = graph.inputs()[*in].value->type;
    if (o.value->type != want)
      throw Error(o.loc, fmt::format("output \"{}\" updates input %{} in place, but its type {} "
                                     "differs from the input's {}",
                                     o.name, o.updates, o.value->type.str(), want.str()));
    if (o.value->def)
      updating.emplace(o.value, k);
  }
  for (size_t k = 0; k < graph.outputs().size(); ++k)
    if (graph.outputs()[k].value->def)
      plain.emplace(graph.outputs()[k].value, k);

  std::unordered_map<const Value *, size_t> entry;    // value -> index into plan.values
  std::unordered_map<const Value *, size_t> block_of; // arena value -> block
  std::vector<Block> blocks;
  std::unordered_set<const Value *> taken; // operands whose bytes a value has taken over
  int end = sched.num_steps - 1;
  for (const Node *n : sched.order) {
    int p = sched.step.at(n);
    for (const auto &r : n->results) {
      if (sched.internal.count(r.get()))
        continue;
      PlannedValue pv{.value = r.get(),
                      .size = byteSize(r->type),
                      .first = p,
                      .last = std::max(p, sched.lastRead(r.get()))};
      if (auto it = updating.find(r.get()); it != updating.end()) {
        pv.output = it->second;
        pv.input = graph.updatedInput(graph.outputs()[it->second]);
        pv.last = end;
        if (canWriteIntoInput(sched, r.get(), graph.inputs()[*pv.input].value.get()))
          pv.home = ValueHome::Input;
        else
          pv.copy_to_input = true; // the old value is still read: keep the new one aside
      } else if (auto jt = plain.find(r.get()); jt != plain.end()) {
        pv.home = ValueHome::Output;
        pv.output = jt->second;
        pv.last = end;
      }
      if (pv.home == ValueHome::Arena) {
        if (options.max_buffer_bytes > 0 && pv.size > options.max_buffer_bytes)
          throw Error(n->loc, fmt::format("memory plan: {} ({}) needs {} bytes, more than the "
                                          "{} bytes one buffer may hold",
                                          names.at(r.get()), r->type.str(), pv.size,
                                          options.max_buffer_bytes));
        // Take over a dead operand's block when this step is its last reader.
        for (const Value *o : sched.read_at[p]) {
          auto e = entry.find(o);
          if (e == entry.end() || taken.count(o) || !canOverwrite(sched, r.get(), o))
            continue;
          const PlannedValue &op = plan.values[e->second];
          if (op.home != ValueHome::Arena || op.copy_to_input || op.last != p)
            continue;
          pv.reuses = o;
          taken.insert(o);
          break;
        }
        if (pv.reuses) {
          size_t b = block_of.at(pv.reuses);
          blocks[b].last = pv.last;
          blocks[b].size = std::max(blocks[b].size, pv.size);
          block_of[r.get()] = b;
        } else {
          block_of[r.get()] = blocks.size();
          blocks.push_back(Block{.size = pv.size, .first = pv.first, .last = pv.last});
        }
      }
      entry[r.get()] = plan.values.size();
      plan.values.push_back(pv);
    }
  }

  KILN_ASSERT(options.alignment >= kPlanAlignment && options.alignment % kPlanAlignment == 0,
              "a plan's alignment must be a multiple of kPlanAlignment");
  plan.alignment = options.alignment;
  plan.arena_sizes = packBlocks(blocks, options.max_buffer_bytes, options.alignment);
  std::vector<int64_t> delta(sched.num_steps + 1, 0);
  for (const Block &b : blocks) {
    delta[b.first] += b.size;
    delta[b.last + 1] -= b.size;
  }
  for (int64_t s = 0, live = 0; s < sched.num_steps; ++s)
    plan.peak_bytes = std::max(plan.peak_bytes, live += delta[s]);
  for (PlannedValue &pv : plan.values) {
    if (pv.home != ValueHome::Arena)
      continue;
    const Block &b = blocks[block_of.at(pv.value)];
    pv.arena = b.arena;
    pv.offset = b.offset;
    plan.no_reuse_bytes += pv.size;
  }
  return plan;
}

std::string printMemoryPlan(const Graph &graph, const MemoryPlan &plan) {
  auto names = valueNames(graph);
  size_t arenas = plan.arena_sizes.size();
  std::string out = fmt::format("memory plan @{}: {} steps, {} arena{}", graph.name(),
                                plan.num_steps, arenas, arenas == 1 ? "" : "s");
  if (plan.max_buffer_bytes > 0)
    out += fmt::format(", at most {} bytes each", plan.max_buffer_bytes);
  out += "\n";
  for (const PlannedValue &pv : plan.values) {
    out += fmt::format("  {}: ", names.at(pv.value));
    if (pv.home == ValueHome::Arena)
      out += fmt::format("arena {}, offset {}", pv.arena, pv.offset);
    else if (pv.home == ValueHome::Output)
      out += "output " + attrStr(Attribute(graph.outputs()[*pv.output].name));
    else
      out += "input %" + graph.inputs()[*pv.input].name;
    out += fmt::format(", size {}, live [{}, {}]", pv.size, pv.first, pv.last);
    if (pv.reuses)
      out += ", in place of " + names.at(pv.reuses);
    if (pv.copy_to_input)
      out += ", copied to input %" + graph.inputs()[*pv.input].name;
    out += "\n";
  }
  for (size_t a = 0; a < arenas; ++a)
    out += fmt::format("  arena {}: {} bytes\n", a, plan.arena_sizes[a]);
  out += fmt::format("  peak {} bytes, arenas {} bytes, no reuse {} bytes\n", plan.peak_bytes,
                     plan.arenaBytes(), plan.no_reuse_bytes);
  return out;
}

std::vector<std::string> checkMemoryPlan(const Graph &graph, const MemoryPlan &plan) {
  Schedule sched(graph);
  auto names = valueNames(graph);
  std::vector<std::string> problems;
  auto name = [&](const Value *v) {
    auto it = names.find(v);
    return it == names.end() ? std::string("<a value not in the graph>") : it->second;
  };

  std::unordered_map<const Value *, const PlannedValue *> entry;
  for (const PlannedValue &pv : plan.values)
    if (!entry.emplace(pv.value, &pv).second)
      problems.push_back(fmt::format("{} is planned twice", name(pv.value)));
  for (const auto &n : graph.nodes())
    for (const auto &r : n->results) {
      bool internal = sched.internal.count(r.get()) > 0;
      if (!internal && !entry.count(r.get()))
        problems.push_back(fmt::format("{} is not planned", name(r.get())));
      if (internal && entry.count(r.get()))
        problems.push_back(
            fmt::format("{} is planned, but never leaves group {}", name(r.get()), n->group));
    }

  int end = sched.num_steps - 1;
  std::vector<const PlannedValue *> in_arena;
  for (const PlannedValue &pv : plan.values) {
    std::string v = name(pv.value);
    if (!pv.value->def || !sched.step.count(pv.value->def)) {
      problems.push_back(fmt::format("{} is not a node result of the graph", v));
      continue;
    }
    int p = sched.stepOf(pv.value);
    if (pv.size != byteSize(pv.value->type))
      problems.push_back(fmt::format("{} has size {}, but its type {} takes {} bytes", v, pv.size,
                                     pv.value->type.str(), byteSize(pv.value->type)));
    if (pv.first != p || pv.last < std::max(p, sched.lastRead(pv.value)))
      problems.push_back(fmt::format("{} is live [{}, {}], but is written at step {} and read "
                                     "until step {}",
                                     v, pv.first, pv.last, p, sched.lastRead(pv.value)));
    bool kept = pv.home != ValueHome::Arena || pv.copy_to_input;
    if ((kept || sched.outputs.count(pv.value)) && pv.last != end)
      problems.push_back(fmt::format("{} is an output but dies at step {}", v, pv.last));
    if (pv.home == ValueHome::Output && (!pv.output || *pv.output >= graph.outputs().size() ||
                                         graph.outputs()[*pv.output].value != pv.value))
      problems.push_back(fmt::format("{} is placed in an output buffer that is not its own", v));
    if (pv.home == ValueHome::Input || pv.copy_to_input) {
      bool ok = pv.output && pv.input && *pv.output < graph.outputs().size() &&
                graph.outputs()[*pv.output].value == pv.value &&
                graph.updatedInput(graph.outputs()[*pv.output]) == pv.input;
      if (!ok)
        problems.push_back(fmt::format("{} is not an output that updates that input", v));
      else if (pv.home == ValueHome::Input &&
               !canWriteIntoInput(sched, pv.value, graph.inputs()[*pv.input].value.get()))
        problems.push_back(fmt::format("{} overwrites %{} while its old value is still read", v,
                                       graph.inputs()[*pv.input].name));
    }
    if (pv.home != ValueHome::Arena)
      continue;
    if (pv.arena < 0 || static_cast<size_t>(pv.arena) >= plan.arena_sizes.size()) {
      problems.push_back(fmt::format("{} is in arena {}, which does not exist", v, pv.arena));
      continue;
    }
    int64_t arena_size = plan.arena_sizes[pv.arena];
    if (pv.offset % plan.alignment != 0)
      problems.push_back(
          fmt::format("{} at offset {} is not {}-byte aligned", v, pv.offset, plan.alignment));
    if (pv.offset < 0 || pv.offset + pv.size > arena_size)
      problems.push_back(fmt::format("{} at [{}, {}) is outside arena {} of {} bytes", v, pv.offset,
                                     pv.offset + pv.size, pv.arena, arena_size));
    if (pv.reuses) {
      auto it = entry.find(pv.reuses);
      bool operand_ok = sched.stepOf(pv.value) == sched.lastRead(pv.reuses) &&
                        canOverwrite(sched, pv.value, pv.reuses);
      bool ok = operand_ok && it != entry.end() && it->second->home == ValueHome::Arena &&
                it->second->arena == pv.arena && it->second->offset == pv.offset &&
                it->second->last == pv.first;
      if (!ok)
        problems.push_back(fmt::format("{} cannot be written in place of {}", v, name(pv.reuses)));
    }
    in_arena.push_back(&pv);
  }
  for (size_t a = 0; a < plan.arena_sizes.size(); ++a)
    if (plan.max_buffer_bytes > 0 && plan.arena_sizes[a] > plan.max_buffer_bytes)
      problems.push_back(fmt::format("arena {} has {} bytes, more than the limit of {}", a,
                                     plan.arena_sizes[a], plan.max_buffer_bytes));

  // Sorted by arena and offset, a value can only collide with those that start before it ends.
  std::sort(in_arena.begin(), in_arena.end(), [](const PlannedValue *x, const PlannedValue *y) {
    return x->arena != y->arena ? x->arena < y->arena : x->offset < y->offset;
  });
  for (size_t i = 0; i < in_arena.size(); ++i) {
    const PlannedValue &a = *in_arena[i];
    for (size_t k = i + 1; k < in_arena.size(); ++k) {
      const PlannedValue &b = *in_arena[k];
      if (b.arena != a.arena || b.offset >= a.offset + a.size)
        break;
      if (a.size == 0 || b.size == 0 || a.last < b.first || b.last < a.first)
        continue;
      bool declared =
          (b.reuses == a.value && a.last == b.first) || (a.reuses == b.value && b.last == a.first);
      if (!declared)
        problems.push_back(fmt::format("{} and {} overlap in arena {} at steps [{}, {}]",
                                       name(a.value), name(b.value), a.arena,
                                       std::max(a.first, b.first), std::min(a.last, b.last)));
    }
  }
  return problems;
}

} // namespace kiln
