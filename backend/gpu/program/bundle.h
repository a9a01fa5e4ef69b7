#pragma once
// Bundles: a GPU program in a folder, self-contained, that kiln-run loads without the
// compiler. The folder holds
//
//   bundle.json          the program: signature, buffers and their sizes, kernels and their
//                        launches, steps (dispatches with their bindings and traps, host
//                        steps with the nodes they compute), outputs
//   kernels/NAME.spv     each kernel's SPIR-V binary (Vulkan)
//   kernels/NAME.ptx     each kernel's PTX module (CUDA)
//   graph.kir            the graph that host steps index, as text IR (only when there are some)
//
// Reading checks what it reads: a malformed or incomplete bundle is one Error naming the file
// and what is wrong, never a crash.

#include "backend/gpu/program/host_steps.h"
#include "runtime/gpu/gpu_program.h"

#include <map>
#include <memory>
#include <string>

namespace kiln::gpu {

/// The version of the format that writeBundle writes and readBundle reads.
inline constexpr int kBundleVersion = 2;

/// A program with what its host steps compute, as a bundle holds it.
struct Bundle {
  std::shared_ptr<GpuProgram> program;
  std::shared_ptr<const Graph> graph;       ///< null when there are no host steps
  std::vector<HostNodes> host;              ///< by HostStep::id
  std::map<std::string, std::string> about; ///< what it was made from: "config", "stage"...
};

/// Writes a bundle into `dir` (made when missing).
void writeBundle(const std::string &dir, const Bundle &bundle);

/// Reads the bundle in `dir`. Throws Error naming the file for a missing or malformed part.
Bundle readBundle(const std::string &dir);

} // namespace kiln::gpu
