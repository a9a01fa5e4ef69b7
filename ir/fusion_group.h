#pragma once
// Fusion groups: the nodes fuse-elementwise marks `group(N)` run as one kernel. The rules of
// what may form a group live here, read by the pass and by the verifier alike.

#include "ir/graph.h"

#include <optional>

namespace kiln {

/// Whether a node may be a member of a group other than its root: element i of its result
/// needs only element i of its (broadcast) operands, or only i (iota, random_uniform).
bool isFusionMember(const Node &n);

/// Whether a member reads `v` whole at every element rather than at the element it computes:
/// the key of a random_uniform. Such a value is computed before its group, never inside it,
/// and the group's result is never written over it.
bool readsWhole(const Node &member, const Value *v);

/// The loop shape of a group ending at n: n's result shape, or a reduction's operand shape;
/// nullopt when n cannot end a group.
std::optional<Shape> fusionLoopShape(const Node &n);

/// Checks every group: it ends at a node that can end one, its other members are members of
/// its loop shape, nothing outside reads them and no member reads another whole. Throws Error at
/// the first bad node.
void verifyFusionGroups(const Graph &g);

} // namespace kiln
