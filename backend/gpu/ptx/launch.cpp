// Launch configurations: grid, block and dynamic shared memory of each kernel.

#include "backend/gpu/ptx/launch.h"

#include "ir/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>

namespace kiln::gpu {

using namespace kernel;

namespace {

/// Blocks of a grid: CUDA allows 2^31 - 1 in x; grid-stride loops make any smaller grid correct.
constexpr int64_t kMaxGrid = int64_t{1} << 20;

int64_t widestWorkerLoop(const Block &body) {
  int64_t widest = 0;
  for (const Stmt &s : body) {
    if (const auto *l = std::get_if<Loop>(&s.node)) {
      widest =
          std::max(widest, l->kind == LoopKind::Worker ? l->extent : widestWorkerLoop(l->body));
    } else if (const auto *i = std::get_if<If>(&s.node)) {
      widest = std::max(widest, widestWorkerLoop(i->body));
    }
  }
  return widest;
}

bool hasGroupReduce(const Block &body) {
  for (const Stmt &s : body) {
    if (std::holds_alternative<GroupReduce>(s.node))
      return true;
    if (const auto *l = std::get_if<Loop>(&s.node); l && hasGroupReduce(l->body))
      return true;
    if (const auto *i = std::get_if<If>(&s.node); i && hasGroupReduce(i->body))
      return true;
  }
  return false;
}

int64_t alignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

} // namespace

bool isGroupKernel(const Kernel &k) {
  const Loop *l = k.parallelLoop();
  return l && l->kind == LoopKind::Group;
}

SharedLayout sharedLayout(const Kernel &k, int64_t block) {
  SharedLayout layout;
  for (const Buffer &b : k.buffers) {
    layout.offsets.push_back(-1);
    if (b.role != Role::Local)
      continue;
    layout.bytes = alignUp(layout.bytes, 16);
    layout.offsets.back() = layout.bytes;
    layout.bytes += std::max<int64_t>(1, numElements(b.shape)) * dtypeSize(b.dtype);
  }
  if (isGroupKernel(k) && hasGroupReduce(k.body)) {
    layout.bytes = alignUp(layout.bytes, 16);
    layout.scratch = layout.bytes;
    layout.bytes += block * 8;
  }
  return layout;
}

PtxLaunch ptxLaunch(const Kernel &k, const PtxOptions &options) {
  if (options.max_block < 32 || options.max_block > 1024 ||
      !std::has_single_bit(static_cast<uint64_t>(options.max_block)))
    throw Error({}, fmt::format("PTX: the block size must be a power of two from 32 to 1024, "
                                "found {}",
                                options.max_block));
  PtxLaunch launch;
  if (const Loop *l = k.parallelLoop()) {
    if (l->kind == LoopKind::Group) {
      // A power of two, for the tree of the group reductions; at least a warp.
      int64_t workers = widestWorkerLoop(l->body);
      launch.block = std::clamp<int64_t>(
          static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(std::max<int64_t>(1, workers)))),
          32, options.max_block);
      launch.grid = std::clamp<int64_t>(l->extent, 1, kMaxGrid);
    } else {
      launch.block = std::clamp<int64_t>(alignUp(l->extent, 32), 32, options.max_block);
      launch.grid = std::clamp<int64_t>((l->extent + launch.block - 1) / launch.block, 1, kMaxGrid);
    }
  }
  launch.shared_bytes = sharedLayout(k, launch.block).bytes;
  return launch;
}

} // namespace kiln::gpu
