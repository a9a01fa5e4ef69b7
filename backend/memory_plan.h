#pragma once
// Memory planning: where every node result lives while a graph runs, as data that backends,
// tools and tests read (in the manner of XLA's buffer assignment).
//
// The schedule is the graph's node order: node i runs at step i, except that a fusion group
// (Node::group) runs as one step at its root's position: its members' results are written
// there, and those that are neither the root nor a graph output get no buffer (nor an entry).
// A value is live from the step of its producer to the step of its last reader, or to the last
// step when it is an output. Intermediate values share arenas: offsets are packed greedy-by-size
// (largest first, each into the tightest gap among the values it overlaps in time, as TFLite's
// and XLA's heap simulators do), 64-byte aligned. An elementwise result (or a group's result of
// its loop shape) may take the bytes of an operand that dies at that step. Outputs live in
// caller-owned buffers; an output that updates a parameter or state input is written into that
// input's buffer.
//
//   memory plan @main: 3 steps, 1 arena
//     %0: arena 0, offset 0, size 32, live [0, 1]
//     %1: arena 0, offset 0, size 32, live [1, 2], in place of %0
//     %2: output "y", size 32, live [2, 2]
//     arena 0: 32 bytes
//     peak 32 bytes, arenas 32 bytes, no reuse 64 bytes

#include "ir/graph.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

/// Byte alignment of every offset in an arena (that of HostBuffer, for aligned vector loads).
inline constexpr int64_t kPlanAlignment = 64;

/// Options of the planner.
struct PlanOptions {
  /// Largest arena a backend can bind as one buffer (lavapipe: 128 MiB); 0: no limit.
  int64_t max_buffer_bytes = 0;
  /// Alignment of every arena offset: a multiple of kPlanAlignment (a GPU's
  /// minStorageBufferOffsetAlignment may ask for more).
  int64_t alignment = kPlanAlignment;
};

/// Where a planned value's bytes are.
enum class ValueHome {
  Arena,  ///< an intermediate: arena `arena` at `offset`
  Output, ///< a graph output in its caller-owned buffer
  Input,  ///< an output written straight into the buffer of the input it updates
};

/// The placement and live range of one node result.
struct PlannedValue {
  const Value *value = nullptr;
  ValueHome home = ValueHome::Arena;
  int arena = -1;                ///< Arena only
  int64_t offset = 0;            ///< Arena only: bytes from the start of the arena
  int64_t size = 0;              ///< bytes of the elements, unpadded
  int first = 0;                 ///< step of the producer
  int last = 0;                  ///< step of the last reader, or the last step for outputs
  const Value *reuses = nullptr; ///< the dead operand whose bytes this value overwrites
  std::optional<size_t> output;  ///< Output and Input: index into the graph's outputs
  std::optional<size_t> input;   ///< the input this output updates (Input, or copy_to_input)
  bool copy_to_input = false;    ///< in the arena, copied into `input` after the last step
};

/// A memory plan: one entry per node result that a buffer holds, in schedule order, and the
/// arenas' sizes.
struct MemoryPlan {
  std::vector<PlannedValue> values;
  std::vector<int64_t> arena_sizes;
  int num_steps = 0;
  int64_t max_buffer_bytes = 0;       ///< the limit it was planned under; 0: none
  int64_t alignment = kPlanAlignment; ///< the alignment of its offsets
  int64_t peak_bytes = 0;     ///< max over steps of the bytes of arena values live at the step
  int64_t no_reuse_bytes = 0; ///< sum of the sizes of arena values: each in its own buffer

  /// Sum of the arena sizes.
  int64_t arenaBytes() const;
  /// The entry of a node result, or nullptr.
  const PlannedValue *find(const Value *v) const;
};

/// Whether element i of the node's result depends only on element i of each full-shape operand.
bool isElementwise(const Node &node);

/// Whether the node may write its result over operand `operand` as it reads it: elementwise,
/// the operand is not broadcast, and its elements have the result's byte size; or the operand
/// that a dynamic_update_slice updates.
bool canWriteInPlace(const Node &node, size_t operand);

/// Plans every node result of a verified graph. Throws Error naming a value larger than
/// options.max_buffer_bytes, and an output whose updated input has another type.
MemoryPlan planMemory(const Graph &graph, const PlanOptions &options = {});

/// The plan as text: one line per node result, then the arenas and the totals. Deterministic.
std::string printMemoryPlan(const Graph &graph, const MemoryPlan &plan);

/// The problems of a plan: overlapping live values, misalignment, values out of bounds, live
/// ranges that miss a reader, illegal in-place writes. Empty for a sound plan.
std::vector<std::string> checkMemoryPlan(const Graph &graph, const MemoryPlan &plan);

} // namespace kiln
