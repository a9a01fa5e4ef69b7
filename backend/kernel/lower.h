#pragma once
// Lowering from graph nodes to kernels. Each op family has its own file of lowerings, and the
// table that maps op handles to them lives in backend/, so ir/ never learns about backends.
// A node's kernel takes its operands as buffers %in0, %in1, ... and its results as %out0, ...,
// in that order; a buffer's shape is the kernel's view of its elements, so a reshape or a
// collapsed loop nest needs no copy.

#include "backend/kernel/kernel_ir.h"
#include "ir/graph.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln::kernel {

/// The kernel that computes a node, or nullopt when its op (or this use of it) has no
/// lowering. The kernel is named after the op.
std::optional<Kernel> lowerNode(const Node &node);
/// The most bytes of group-local buffers a kernel may use; a lowering needing more falls back.
constexpr int64_t kMaxLocalBytes = int64_t{512} << 10;
/// The bytes of a kernel's group-local buffers.
int64_t localBytes(const Kernel &k);

/// The kernel of a node whose result is written over its first operand's buffer, when that
/// saves work (dynamic_update_slice then writes its box alone); nullopt for other nodes.
std::optional<Kernel> lowerOverOperand(const Node &node);

/// Whether lowerNode gives a kernel for this node.
bool hasLowering(const Node &node);
/// A fusion group marked by fuse-elementwise (Node::group), as its one kernel sees it.
struct FusionGroup {
  int id = -1;
  std::vector<const Node *> members; ///< in graph order, the root last
  std::vector<const Value *> inputs; ///< values read from outside the group: %in0, %in1, ...
  std::vector<const Value *> stored; ///< graph outputs among the members, then the root's result
};

/// The groups marked in a graph, in the order of their first members.
std::vector<FusionGroup> fusionGroups(const Graph &graph);
/// The one kernel of a fusion group, named group_<id>: %in<i> are its inputs, %out<i> its
/// stored values. nullopt when the group cannot run as one kernel (each member then lowers
/// alone).
std::optional<Kernel> lowerGroup(const FusionGroup &group);
/// Unmarks the groups that lowerGroup cannot lower, so that the memory plan and the schedule
/// see their members as single nodes.
void dropUnlowerableGroups(Graph &graph);

/// The printed kernel of every lowered node or group, and a line naming each node that falls
/// back to its reference kernel; kernels are named <op>_<node number> and group_<id>. A node
/// (or a group's root) for which `library` says how a library computes it (a backend's
/// choice: "oneDNN computes matmul") gets a line saying so instead of a kernel.
std::string printKernels(const Graph &graph,
                         const std::function<std::string(const Node &)> &library = {});

} // namespace kiln::kernel
