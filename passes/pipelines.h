#pragma once
// Named pipelines: the pass sequences kiln uses, also reachable as kiln-opt --pipeline=NAME.

#include "passes/pass_manager.h"

#include <string>
#include <vector>

namespace kiln {

/// The pass names of a pipeline: "infer" (canonicalize, cse, the fusions, cse, dce,
/// fuse-elementwise) or "train" (the same with autodiff and the optimizer after the fusions,
/// and schedule-updates last). With precision "bf16", mixed-precision follows the fusions.
/// Throws Error for another name or precision.
std::vector<std::string> pipelinePasses(const std::string &name,
                                        const std::string &precision = "f32");

/// The passes a --precision adds after the fusions: none for f32, mixed-precision for bf16.
/// Throws Error for another precision.
std::vector<std::string> precisionPasses(const std::string &precision);

/// The names of the pipelines, for help texts.
std::vector<std::string> pipelineNames();

} // namespace kiln
