// Memory planning: liveness, greedy-by-size packing, in-place reuse, arenas split under a
// per-buffer limit, the printed plan and the checker, down to the tiny Transformer's train step.

#include "test_util.h"

#include "backend/backend.h"
#include "backend/memory_plan.h"
#include "compiler/programs.h"
#include "ir/parser.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

using namespace kiln;

namespace {

std::unique_ptr<Graph> parse(std::string_view text) { return parseGraph(text, "plan.kir"); }

/// The plan's entry of the node result numbered `n` in schedule order.
const PlannedValue &at(const MemoryPlan &plan, const Graph &g, size_t n) {
  const PlannedValue *pv = plan.find(g.nodes().at(n)->result());
  REQUIRE(pv != nullptr);
  return *pv;
}

/// Plans a graph and requires the checker to find nothing.
MemoryPlan planChecked(const Graph &g, const PlanOptions &options = {}) {
  MemoryPlan plan = planMemory(g, options);
  auto problems = checkMemoryPlan(g, plan);
  for (const auto &p : problems)
    INFO(p);
  CHECK(problems.empty());
  return plan;
}

/// Runs a graph step by step on the reference kernels with every value stored where the plan
/// puts it: arenas poisoned with 0xFF (NaN in floats) at the start and where each value dies.
/// A plan that lets a write clobber a live value changes the outputs.
std::vector<Literal> runInArenas(const Graph &g, const MemoryPlan &plan,
                                 const std::vector<Literal> &inputs) {
  std::vector<std::vector<std::byte>> arenas;
  for (int64_t size : plan.arena_sizes)
    arenas.emplace_back(static_cast<size_t>(size), std::byte{0xFF});
  std::vector<std::vector<std::byte>> in_bufs, out_bufs(g.outputs().size());
  for (const Literal &l : inputs)
    in_bufs.push_back(l.toBytes());
  std::unordered_map<const Value *, size_t> input_of;
  for (size_t i = 0; i < g.inputs().size(); ++i)
    input_of[g.inputs()[i].value.get()] = i;
  std::unordered_set<const Value *> reused;
  for (const PlannedValue &pv : plan.values)
    if (pv.reuses)
      reused.insert(pv.reuses);
  auto bytesOf = [&](const Value *v) -> std::span<std::byte> {
    if (auto it = input_of.find(v); it != input_of.end())
      return in_bufs[it->second];
    const PlannedValue &pv = *plan.find(v);
    if (pv.home == ValueHome::Input)
      return in_bufs[*pv.input];
    if (pv.home == ValueHome::Output)
      return out_bufs[*pv.output];
    return std::span(arenas[pv.arena]).subspan(pv.offset, pv.size);
  };
  for (size_t k = 0; k < g.outputs().size(); ++k)
    if (const PlannedValue *pv = plan.find(g.outputs()[k].value); pv && pv->output == k)
      out_bufs[k].resize(pv->size);
  // A fusion group is one step at its root: its members compute into scratch, then the values
  // the plan keeps are written to their homes, as the group's kernel does element by element.
  std::vector<std::vector<const Node *>> at_step(g.nodes().size());
  std::unordered_map<int, size_t> root_of;
  for (size_t s = 0; s < g.nodes().size(); ++s)
    if (g.nodes()[s]->group >= 0)
      root_of[g.nodes()[s]->group] = s;
  for (size_t s = 0; s < g.nodes().size(); ++s) {
    const Node *n = g.nodes()[s].get();
    at_step[n->group >= 0 ? root_of.at(n->group) : s].push_back(n);
  }
  for (size_t s = 0; s < g.nodes().size(); ++s) {
    std::unordered_map<const Value *, Literal> scratch;
    for (const Node *n : at_step[s]) {
      std::vector<Literal> args;
      for (const Value *v : n->operands)
        args.push_back(scratch.count(v) ? scratch.at(v) : Literal::fromBytes(v->type, bytesOf(v)));
      std::vector<const Literal *> ptrs;
      for (const Literal &l : args)
        ptrs.push_back(&l);
      std::vector<Literal> results = n->op->reference(*n, ptrs);
      for (size_t i = 0; i < results.size(); ++i) {
        results[i].type = n->results[i]->type;
        results[i].roundToDType();
        scratch.emplace(n->results[i].get(), std::move(results[i]));
      }
    }
    for (const auto &[v, lit] : scratch)
      if (plan.find(v)) {
        auto bytes = lit.toBytes();
        std::copy(bytes.begin(), bytes.end(), bytesOf(v).begin());
      }
    for (const PlannedValue &pv : plan.values)
      if (pv.home == ValueHome::Arena && !pv.copy_to_input && pv.last == static_cast<int>(s) &&
          !reused.count(pv.value))
        std::fill_n(bytesOf(pv.value).begin(), pv.size, std::byte{0xFF});
  }
  std::vector<Literal> outs;
  for (const GraphOutput &o : g.outputs())
    outs.push_back(Literal::fromBytes(o.value->type, bytesOf(o.value)));
  return outs;
}

/// Deterministic inputs: small floats for parameters, zeros for state, small token ids.
std::vector<Literal> sampleInputs(const Graph &g) {
  std::vector<Literal> out;
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    const GraphInput &in = g.inputs()[k];
    Literal l(in.value->type);
    for (size_t i = 0; i < l.data.size(); ++i) {
      if (!isFloat(l.type.dtype))
        l.data[i] = 1 + static_cast<double>((i * 7 + k) % 13);
      else if (in.kind != InputKind::State)
        l.data[i] = 0.1 * std::sin(0.37 * static_cast<double>(i) + static_cast<double>(k));
    }
    l.roundToDType();
    out.push_back(std::move(l));
  }
  return out;
}

/// Runs the graph both ways and requires bit-equal outputs.
void checkRunsInArenas(const Graph &g, const MemoryPlan &plan) {
  auto inputs = sampleInputs(g);
  auto want = reference::run(g, inputs);
  auto got = runInArenas(g, plan, inputs);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    INFO("output " << g.outputs()[k].name);
    CHECK(got[k].data == want[k].data);
  }
}

bool mentions(const std::vector<std::string> &problems, std::string_view text) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string &p) { return p.find(text) != std::string::npos; });
}

} // namespace

TEST_CASE("a chain runs in one buffer: each result overwrites its dead operand") {
  auto g = parse(R"(graph @chain {
  input data %x: f32[8]
  %0 = exp(%x) : f32[8]
  %1 = tanh(%0) : f32[8]
  %2 = neg(%1) : f32[8]
  output "y" = %2
})");
  MemoryPlan plan = planChecked(*g);
  CHECK(at(plan, *g, 0).home == ValueHome::Arena);
  CHECK(at(plan, *g, 0).last == 1);
  CHECK(at(plan, *g, 1).reuses == g->nodes()[0]->result());
  CHECK(at(plan, *g, 1).offset == at(plan, *g, 0).offset);
  CHECK(at(plan, *g, 2).home == ValueHome::Output);
  CHECK(at(plan, *g, 2).output == 0u);
  CHECK(plan.arena_sizes == std::vector<int64_t>{32});
  CHECK(plan.peak_bytes == 32);
  CHECK(plan.no_reuse_bytes == 64);
  checkRunsInArenas(*g, plan);
}

/// %0 is read by both branches; the branches meet in %3.
constexpr const char *kDiamond = R"(graph @diamond {
  input data %x: f32[16]
  %0 = exp(%x) : f32[16]
  %1 = tanh(%0) : f32[16]
  %2 = neg(%0) : f32[16]
  %3 = add(%1, %2) : f32[16]
  output "y" = %3
})";

TEST_CASE("a diamond keeps the branch that is still read apart") {
  auto g = parse(kDiamond);
  MemoryPlan plan = planChecked(*g);
  // %0 is read again at step 2, so tanh may not overwrite it; neg, its last reader, may.
  CHECK(at(plan, *g, 0).last == 2);
  CHECK(at(plan, *g, 1).reuses == nullptr);
  CHECK(at(plan, *g, 2).reuses == g->nodes()[0]->result());
  CHECK(at(plan, *g, 1).offset != at(plan, *g, 0).offset);
  CHECK(plan.arena_sizes == std::vector<int64_t>{128});
  checkRunsInArenas(*g, plan);
}

TEST_CASE("in place only for elementwise nodes over full-shape operands of the same byte size") {
  auto g = parse(R"(graph @legal {
  input data %x: f32[4]
  input data %y: f32[1,4]
  input data %c: bool[1,4]
  %0 = exp(%x) : f32[4]
  %1 = exp(%y) : f32[1,4]
  %2 = add(%0, %1) : f32[1,4]
  %3 = exp(%y) : f32[1,4]
  %4 = cast(%3) {dtype = i32} : i32[1,4]
  %5 = exp(%y) : f32[1,4]
  %6 = cast(%5) {dtype = f64} : f64[1,4]
  %7 = exp(%y) : f32[1,4]
  %8 = gt(%7, %y) : bool[1,4]
  %9 = exp(%y) : f32[1,4]
  %10 = select(%c, %9, %y) : f32[1,4]
  %11 = reduce_sum(%10) {axes = [1]} : f32[1]
  output "a" = %2
  output "b" = %4
  output "c" = %6
  output "d" = %8
  output "e" = %11
})");
  const auto &n = g->nodes();
  // %0 is broadcast from [4] to [1,4]: element i of the result is not element i's home.
  CHECK(!canWriteInPlace(*n[2], 0));
  CHECK(canWriteInPlace(*n[2], 1));
  CHECK(canWriteInPlace(*n[4], 0));   // f32 -> i32: four bytes each
  CHECK(!canWriteInPlace(*n[6], 0));  // f32 -> f64: the result is twice as large
  CHECK(!canWriteInPlace(*n[8], 0));  // a comparison writes one-byte bools
  CHECK(canWriteInPlace(*n[10], 1));  // select's value operand
  CHECK(!canWriteInPlace(*n[10], 0)); // the bool condition is one byte an element
  CHECK(!canWriteInPlace(*n[11], 0)); // a reduction is not elementwise
  CHECK(!canWriteInPlace(*n[2], 2));  // no such operand

  // The outputs live in caller buffers, so to see reuse make every result an intermediate.
  auto inner = parse(R"(graph @inner {
  input data %x: f32[4]
  input data %y: f32[1,4]
  input data %c: bool[1,4]
  %0 = exp(%x) : f32[4]
  %1 = exp(%y) : f32[1,4]
  %2 = add(%0, %1) : f32[1,4]
  %3 = cast(%2) {dtype = i32} : i32[1,4]
  %4 = cast(%3) {dtype = f64} : f64[1,4]
  %5 = cast(%4) {dtype = f32} : f32[1,4]
  %6 = select(%c, %5, %y) : f32[1,4]
  %7 = reduce_sum(%6) {axes = [1]} : f32[1]
  output "s" = %7
})");
  MemoryPlan plan = planChecked(*inner);
  const auto &m = inner->nodes();
  CHECK(at(plan, *inner, 2).reuses == m[1]->result()); // not the broadcast %0
  CHECK(at(plan, *inner, 3).reuses == m[2]->result()); // same-size cast
  CHECK(at(plan, *inner, 4).reuses == nullptr);        // widening cast
  CHECK(at(plan, *inner, 5).reuses == nullptr);        // narrowing cast
  CHECK(at(plan, *inner, 6).reuses == m[5]->result());
  CHECK(at(plan, *inner, 7).reuses == nullptr);
}

TEST_CASE("outputs that update a parameter are written into its buffer, or copied when read") {
  auto g = parse(R"(graph @update {
  input param %w: f32[4]
  input state %m: f32[4]
  input data %g: f32[4]
  %0 = mul(%m, %g) : f32[4]
  %1 = sub(%w, %0) : f32[4]
  %2 = neg(%m) : f32[4]
  %3 = exp(%m) : f32[4]
  output "w" = %1 updates %w
  output "m" = %2 updates %m
  output "g" = %3
})");
  CHECK(g->updatedInput(g->outputs()[0]) == 0u);
  CHECK(g->updatedInput(g->outputs()[1]) == 1u);
  CHECK(!g->updatedInput(g->outputs()[2]));
  MemoryPlan plan = planChecked(*g);
  // sub reads %w at the step it writes the new w, element by element: safe to overwrite.
  CHECK(at(plan, *g, 1).home == ValueHome::Input);
  CHECK(at(plan, *g, 1).input == 0u);
  // exp reads the old %m after neg has made the new one: the new m waits in the arena.
  CHECK(at(plan, *g, 2).home == ValueHome::Arena);
  CHECK(at(plan, *g, 2).copy_to_input);
  CHECK(at(plan, *g, 2).last == 3);
  CHECK(at(plan, *g, 3).home == ValueHome::Output);
  checkRunsInArenas(*g, plan);

  // The verifier rejects this in text; a graph built in C++ meets the planner's own check.
  Graph bad("bad");
  Value *w = bad.addInput("w", InputKind::Parameter, TensorType{DType::f32, {4}});
  bad.addOutput("w", Builder(bad).create(op::ReduceSum, {w}, {{"axes", IntList{0}}}), {}, "w");
  CHECK_THROWS_WITH_AS(planMemory(bad), doctest::Contains("differs from the input's f32[4]"),
                       Error);
}

TEST_CASE("arenas split under a per-buffer limit, and a value above it is an error") {
  auto g = parse(R"(graph @split {
  input data %x: f32[256]
  %0 = exp(%x) : f32[256]
  %1 = tanh(%x) : f32[256]
  %2 = neg(%x) : f32[256]
  %3 = add(%0, %1) : f32[256]
  %4 = add(%3, %2) : f32[256]
  output "y" = %4
})");
  // %0/%3 (one buffer), %1 and %2 are all live at step 2: 3 KiB, 1 KiB each.
  MemoryPlan whole = planChecked(*g);
  CHECK(whole.arena_sizes == std::vector<int64_t>{3072});
  CHECK(whole.peak_bytes == 3072);
  MemoryPlan split = planChecked(*g, {.max_buffer_bytes = 2048});
  CHECK(split.arena_sizes == std::vector<int64_t>{2048, 1024});
  CHECK(at(split, *g, 2).arena == 1);
  CHECK(at(split, *g, 3).arena == at(split, *g, 0).arena);
  checkRunsInArenas(*g, split);
  CHECK(printMemoryPlan(*g, split).find("2 arenas, at most 2048 bytes each") != std::string::npos);

  CHECK_THROWS_WITH_AS(planMemory(*g, {.max_buffer_bytes = 1000}),
                       doctest::Contains("%0 (f32[256]) needs 1024 bytes, more than the 1000"),
                       Error);
}

TEST_CASE("a fusion group is one step at its root: members inside it get no buffer") {
  auto g = parse(R"(graph @grouped {
  input data %x: f32[8]
  input state %m: f32[8]
  %0 = exp(%x) : f32[8]
  %1 = tanh(%0) : f32[8] group(0)
  %2 = log(%x) : f32[8]
  %3 = mul(%1, %m) : f32[8] group(0)
  %4 = add(%3, %0) : f32[8] group(0)
  %5 = mul(%4, %2) : f32[8]
  output "y" = %5
  output "m" = %3 updates %m
})");
  MemoryPlan plan = planChecked(*g);
  CHECK(plan.num_steps == 6);
  CHECK(plan.find(g->nodes()[1]->result()) == nullptr);
  // The group reads %0 at its root's step; its member output %3 is written there, into %m.
  const PlannedValue &x = at(plan, *g, 0), &m = at(plan, *g, 3), &root = at(plan, *g, 4);
  CHECK(x.last == 4);
  CHECK(m.first == 4);
  CHECK(m.home == ValueHome::Input);
  CHECK(root.first == 4);
  CHECK(root.reuses == g->nodes()[0]->result());
  CHECK(at(plan, *g, 2).last == 5);
  checkRunsInArenas(*g, plan);
  std::string text = printMemoryPlan(*g, plan);
  CHECK(text.find("%1:") == std::string::npos);
  CHECK(text.find("%4: arena 0, offset 0, size 32, live [4, 5], in place of %0") !=
        std::string::npos);

  MemoryPlan bad = plan;
  bad.values.push_back(
      PlannedValue{.value = g->nodes()[1]->result(), .size = 32, .first = 4, .last = 4});
  CHECK(mentions(checkMemoryPlan(*g, bad), "%1 is planned, but never leaves group 0"));
}

TEST_CASE("the printed plan of a small graph") {
  auto g = parse(R"(graph @p {
  input data %x: f32[2,4]
  input param %w: f32[2,4]
  %0 = exp(%x) : f32[2,4]
  %1 = neg(%0) : f32[2,4]
  %2 = mul(%0, %1) : f32[2,4]
  %3 = reduce_sum(%2) {axes = [1]} : f32[2]
  %4 = sub(%w, %2) : f32[2,4]
  output "y" = %3
  output "w" = %4 updates %w
})");
  MemoryPlan plan = planChecked(*g);
  // Five nodes, five steps. f32[2,4] is 32 bytes, f32[2] is 8.
  // %0: written at 0, last read by mul at 2.
  // %1: neg cannot overwrite %0, which mul reads later: a block of its own, live [1, 2].
  // %2: mul is the last reader of %0 and %1; it takes the first, %0. Read by sub at 4.
  // %3: an output, in its caller's buffer, live to the last step.
  // %4: updates param w; sub reads w at that very step, elementwise, so it writes into w.
  // Packing: blocks {%0,%2} [0,4] and {%1} [1,2], both 32 bytes; the earlier goes first at 0,
  // the other overlaps it in time and starts at the next 64-byte boundary: arena 64+32 = 96.
  // Peak: steps 1 and 2 hold both blocks, 64 bytes; alignment pads the arena to 96.
  // No reuse: %0, %1 and %2 in the arena, 3 x 32 = 96.
  CHECK(printMemoryPlan(*g, plan) == R"(memory plan @p: 5 steps, 1 arena
  %0: arena 0, offset 0, size 32, live [0, 2]
  %1: arena 0, offset 64, size 32, live [1, 2]
  %2: arena 0, offset 0, size 32, live [2, 4], in place of %0
  %3: output "y", size 8, live [3, 4]
  %4: input %w, size 32, live [4, 4]
  arena 0: 96 bytes
  peak 64 bytes, arenas 96 bytes, no reuse 96 bytes
)");
}

TEST_CASE("the plan names values as the printer does") {
  // Node numbers skip input names, and multi-result nodes print as %N#i.
  auto g = parse(R"(graph @names {
  input data %0: f32[2,4]
  input param %g: f32[4]
  input data %dy: f32[2,4]
  %1:3 = layer_norm_grad(%0, %g, %dy) : f32[2,4], f32[4], f32[4]
  %2 = exp(%1#0) : f32[2,4]
  output "y" = %2
})");
  std::string text = printMemoryPlan(*g, planChecked(*g));
  CHECK(text.find("  %1#0: arena 0") != std::string::npos);
  CHECK(text.find("  %1#2: arena 0") != std::string::npos);
  CHECK(text.find("  %2: output \"y\"") != std::string::npos);
}

TEST_CASE("the checker finds overlaps, misalignment, short live ranges and bad reuse") {
  auto g = parse(kDiamond);
  MemoryPlan good = planMemory(*g);
  auto entry = [&](MemoryPlan &p, size_t n) -> PlannedValue & {
    return *const_cast<PlannedValue *>(p.find(g->nodes()[n]->result()));
  };
  MemoryPlan p = good;
  entry(p, 1).offset = entry(p, 0).offset;
  CHECK(mentions(checkMemoryPlan(*g, p), "%0 and %1 overlap in arena 0 at steps [1, 2]"));
  p = good;
  entry(p, 1).offset = 32;
  CHECK(mentions(checkMemoryPlan(*g, p), "%1 at offset 32 is not 64-byte aligned"));
  p = good;
  entry(p, 1).offset = 128;
  CHECK(mentions(checkMemoryPlan(*g, p), "outside arena 0 of 128 bytes"));
  p = good;
  entry(p, 0).last = 1;
  CHECK(mentions(checkMemoryPlan(*g, p), "%0 is live [0, 1], but is written at step 0 and read "
                                         "until step 2"));
  p = good;
  entry(p, 1).reuses = g->nodes()[0]->result();
  CHECK(mentions(checkMemoryPlan(*g, p), "%1 cannot be written in place of %0"));
  p = good;
  p.values.pop_back();
  CHECK(mentions(checkMemoryPlan(*g, p), "%3 is not planned"));
}

TEST_CASE("the tiny Transformer's train step plans cleanly and reuses memory") {
  TransformerConfig cfg = presetConfig("tiny");
  OptimizerOptions opt;
  opt.d_model = cfg.d_model;
  BuiltModel m = buildTrainStep(cfg, {.batch = 2, .src_len = 8, .tgt_len = 8}, opt);
  const Graph &g = *m.graph;
  MemoryPlan plan = planChecked(g);

  size_t into_inputs = 0, copies = 0, reused = 0, in_arena = 0;
  for (const PlannedValue &pv : plan.values) {
    into_inputs += pv.home == ValueHome::Input;
    copies += pv.copy_to_input;
    reused += pv.reuses != nullptr;
    in_arena += pv.home == ValueHome::Arena;
  }
  // Every parameter and Adam moment gets its next value in place; none needs a copy.
  size_t updates = 0;
  for (const GraphOutput &o : g.outputs())
    updates += !o.updates.empty();
  CHECK(into_inputs + copies == updates);
  CHECK(copies == 0);
  CHECK(plan.peak_bytes <= plan.arenaBytes());
  CHECK(plan.arenaBytes() < plan.no_reuse_bytes);
  checkRunsInArenas(g, plan);
  MESSAGE("tiny train step: " << plan.num_steps << " steps, " << in_arena << " arena values ("
                              << reused << " in place), " << into_inputs
                              << " outputs into their inputs; peak " << plan.peak_bytes
                              << " B, arena " << plan.arenaBytes() << " B, no reuse "
                              << plan.no_reuse_bytes << " B");

  // Under lavapipe's kind of limit, scaled down to split this small graph.
  int64_t largest = 0;
  for (const PlannedValue &pv : plan.values)
    if (pv.home == ValueHome::Arena)
      largest = std::max(largest, pv.size);
  MemoryPlan split = planChecked(g, {.max_buffer_bytes = largest});
  CHECK(split.arena_sizes.size() > 1);
  for (int64_t s : split.arena_sizes)
    CHECK(s <= largest);
  checkRunsInArenas(g, split);
  MESSAGE("split at " << largest << " B: " << split.arena_sizes.size() << " arenas, "
                      << split.arenaBytes() << " B");
}
