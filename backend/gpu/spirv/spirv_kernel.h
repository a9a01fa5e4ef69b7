#pragma once
// Kernel IR to SPIR-V for Vulkan compute shaders. The interface a Vulkan runtime codes against:
//
// - Descriptor set 0, binding i is the i-th buffer of `Kernel::parameters()`: a StorageBuffer
//   block holding a runtime array of the buffer's element type, one buffer per binding. Elements
//   have kiln's host layout: f32, f64, i32 and i64 as themselves, bf16 as 16-bit words
//   (StorageBuffer16BitAccess), bool as one byte each, 0 or 1 (StorageBuffer8BitAccess), so
//   host bytes copy in and out raw and every store writes its own element, with no atomics.
// - A kernel with traps takes its error slot, one i64 per trap (kTrapClear before the run), at
//   binding parameters().size(); a failed check lowers it with OpAtomicSMin (Int64Atomics).
// - No push constants. The runtime dispatches vkCmdDispatch(workgroups, 1, 1); the shader's
//   LocalSize is (workgroup_size, 1, 1) and its entry point is "main".
//
// A kernel whose body is one parallel loop runs it as a grid-stride loop over the global
// invocations; one whose body is one group loop runs a group per workgroup (stride: the
// number of workgroups), its worker loops over the workgroup's invocations, barriers as
// OpControlBarrier and group_reduce through Workgroup scratch; any other kernel runs on one
// invocation. Local buffers are Workgroup variables, constant tables Private arrays.
//
// Capabilities beyond Shader appear only where a kernel needs them: Int64 (index arithmetic,
// always), Float64 (f64 values, and pow, which computes in f64), StorageBuffer8BitAccess and
// StorageBuffer16BitAccess (bool and bf16 buffers), Int64Atomics (traps), and the
// SignedZeroInfNanPreserve execution mode (NaN tests in max, min and casts). Element indices
// are 32-bit in access chains: Vulkan's buffer ranges are 32-bit byte counts.
//
// Mesa's lavapipe (22.3) breaks out of loops once one invocation has run 65535 iterations of
// them, all its loops together (gallivm's loop limiter), and goes on with wrong results.
// Flattening the parallel nest (backend/kernel/flatten_parallel.h) keeps the loops of one
// invocation short for what the lowerings emit; SpirvKernel::loop_iterations counts them, so
// that the Vulkan runtime can keep a kernel that would loop longer off such a device (the
// backend runs its nodes on the host; kiln-run refuses the bundle). Real GPUs have no limit.

#include "backend/kernel/kernel_ir.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::spirv {

/// How a kernel is compiled.
struct SpirvOptions {
  /// Invocations per workgroup (a power of two); a group kernel whose worker loops are all
  /// shorter uses the next power of two above the longest.
  int workgroup_size = 64;
  /// The most workgroups a dispatch uses (loops stride over any more iterations).
  int64_t max_workgroups = 65535;
  /// Runs SPIRV-Tools' performance passes on the binary (the assembly stays as emitted).
  bool optimize = true;
};

/// A compiled kernel: its SPIR-V assembly and binary and how to dispatch it.
struct SpirvKernel {
  std::string name;
  std::string assembly;
  std::vector<uint32_t> binary;
  int64_t workgroups = 1;
  int workgroup_size = 1;
  int64_t shared_bytes = 0; ///< Workgroup memory: local buffers and group_reduce scratch
  /// The most loop iterations one invocation runs, all loops together, each loop's exit
  /// counted as one more iteration, as gallivm's loop limiter counts them (an upper bound
  /// where the driver unrolls a loop).
  int64_t loop_iterations = 0;
};

/// Compiles a kernel to a validated (and optionally optimised) SPIR-V binary for Vulkan 1.2.
/// Throws Error naming the kernel and the assembler's or validator's message when SPIRV-Tools
/// rejects the module (a kiln bug).
SpirvKernel compileSpirv(const kernel::Kernel &k, const SpirvOptions &o = {});

/// The SPIR-V assembly of a kernel alone, deterministic, without assembling it.
std::string spirvAssembly(const kernel::Kernel &k, const SpirvOptions &o = {});

/// Assembles and validates SPIR-V assembly for Vulkan 1.2; throws Error with the validator's
/// message and `name` when it is not a valid module.
std::vector<uint32_t> assembleSpirv(const std::string &assembly, const std::string &name);

} // namespace kiln::spirv
