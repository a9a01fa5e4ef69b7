#include "backend/kernel/lowerings.h"

#include "backend/kernel/schedule.h"
#include "ir/diagnostics.h"

#include <fmt/format.h>

namespace kiln::kernel {
namespace {

const LoweringTable &table() {
  static const LoweringTable t = [] {
    LoweringTable t;
    addElementwiseLowerings(t);
    addReductionLowerings(t);
    addShapeLowerings(t);
    addCreationLowerings(t);
    addLinalgLowerings(t);
    addNNLowerings(t);
    addIndexingLowerings(t);
    addAttentionLowerings(t);
    return t;
  }();
  return t;
}

} // namespace

void addLowering(LoweringTable &t, const OpDef &op, LowerFn fn) {
  bool fresh = t.emplace(&op, fn).second;
  KILN_ASSERT(fresh, "op lowered twice");
}

void addLowering(LoweringTable &t, OpHandle op, LowerFn fn) { addLowering(t, op.def(), fn); }

int64_t localBytes(const Kernel &k) {
  int64_t bytes = 0;
  for (const Buffer &b : k.buffers)
    if (b.role == Role::Local)
      bytes += numElements(b.shape) * dtypeSize(b.dtype);
  return bytes;
}

std::optional<Kernel> lowerNode(const Node &node) {
  auto it = table().find(node.op);
  if (it == table().end())
    return std::nullopt;
  std::optional<Kernel> k = it->second(node);
  // Group-local buffers live on a worker's stack (in shared memory on a GPU): a kernel that
  // needs more than a stack can spare is left to the node's reference kernel instead.
  if (k && localBytes(*k) > kMaxLocalBytes)
    return std::nullopt;
  if (k) {
    k->name = std::string(node.name());
    assertValid(*k);
  }
  return k;
}

bool hasLowering(const Node &node) { return lowerNode(node).has_value(); }

std::string printKernels(const Graph &graph,
                         const std::function<std::string(const Node &)> &library) {
  std::string out;
  for (const ScheduledKernel &s : scheduleKernels(graph)) {
    std::string lib = library ? library(*s.node) : std::string();
    if (!lib.empty())
      out += fmt::format("library @{}: {} -> {}\n", s.name, lib, s.node->result()->type.str());
    else if (s.kernel)
      out += print(*s.kernel);
    else
      out += fmt::format("fallback @{}: reference kernel of {}\n", s.name, s.node->name());
  }
  return out;
}

// ---- helpers ---------------------------------------------------------------------------------

Kernel kernelFor(const Node &node) {
  Kernel k;
  k.name = std::string(node.name());
  for (size_t i = 0; i < node.operands.size(); ++i)
    k.addBuffer(fmt::format("in{}", i), node.operands[i]->type.dtype, node.operands[i]->type.shape,
                Role::Read);
  for (size_t i = 0; i < node.results.size(); ++i)
    k.addBuffer(fmt::format("out{}", i), node.results[i]->type.dtype, node.results[i]->type.shape,
                Role::Write);
  return k;
}

void setView(Kernel &k, int buffer, Shape shape) {
  KILN_ASSERT(numElements(shape) == numElements(k.buffers[buffer].shape),
              "a view keeps the number of elements");
  k.buffers[buffer].strides = stridesOf(shape);
  k.buffers[buffer].shape = std::move(shape);
}

LoopNest LoopNest::make(Kernel &k, const std::vector<int64_t> &extents, LoopKind first,
                        LoopKind rest) {
  LoopNest n;
  n.extents = extents;
  for (size_t d = 0; d < extents.size(); ++d) {
    LoopKind kind = d == 0 ? first : rest;
    n.vars.push_back(k.addVar(kind == LoopKind::Reduction ? "r" : "i", ScalarType::index));
    n.kinds.push_back(kind);
  }
  return n;
}

std::vector<Expr> LoopNest::indices(const Kernel &k) const {
  std::vector<Expr> out;
  for (int v : vars)
    out.push_back(varRef(k, v));
  return out;
}

Block LoopNest::wrap(Block body) const {
  for (size_t d = vars.size(); d-- > 0;) {
    Block outer;
    outer.push_back(loop(vars[d], kinds[d], extents[d], std::move(body)));
    body = std::move(outer);
  }
  return body;
}

Expr flatIndex(const std::vector<Expr> &idx, const Shape &shape) {
  auto strides = stridesOf(shape);
  Expr flat = intConst(0);
  for (size_t d = 0; d < idx.size(); ++d) {
    Expr term = strides[d] == 1 ? idx[d] : mul(idx[d], intConst(strides[d]));
    flat = d == 0 ? term : add(flat, term);
  }
  return flat;
}

std::vector<Expr> unflattenIndex(const Expr &flat, const Shape &shape) {
  auto strides = stridesOf(shape);
  std::vector<Expr> idx;
  for (size_t d = 0; d < shape.size(); ++d) {
    Expr q = strides[d] == 1 ? flat : div(flat, intConst(strides[d]));
    idx.push_back(d == 0 ? q : binary(BinaryOp::Rem, q, intConst(shape[d])));
  }
  return idx;
}

CollapsedBroadcast collapseBroadcast(const Shape &out, const std::vector<Shape> &shapes) {
  size_t rank = out.size();
  // Align every operand to the output's rank.
  std::vector<Shape> aligned;
  for (const Shape &s : shapes) {
    Shape a(rank - s.size(), 1);
    a.insert(a.end(), s.begin(), s.end());
    aligned.push_back(a);
  }
  CollapsedBroadcast c;
  c.operands.resize(shapes.size());
  bool zero = numElements(out) == 0;
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1 && !zero)
      continue;
    bool merge = !c.out.empty() && !zero;
    for (size_t i = 0; merge && i < aligned.size(); ++i)
      merge = (aligned[i][d] == 1) == (c.operands[i].back() == 1);
    if (merge) {
      c.out.back() *= out[d];
      for (size_t i = 0; i < aligned.size(); ++i)
        c.operands[i].back() *= aligned[i][d];
    } else {
      c.out.push_back(out[d]);
      for (size_t i = 0; i < aligned.size(); ++i)
        c.operands[i].push_back(aligned[i][d]);
    }
  }
  return c;
}

std::vector<Expr> broadcastIndices(const std::vector<Expr> &idx, const Shape &shape) {
  std::vector<Expr> out;
  for (size_t d = 0; d < shape.size(); ++d)
    out.push_back(shape[d] == 1 ? intConst(0) : idx[d]);
  return out;
}

} // namespace kiln::kernel
