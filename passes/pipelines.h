#pragma once
// Named pipelines: the pass sequences kiln uses, also reachable as kiln-opt --pipeline=NAME.

#include "passes/pass_manager.h"

#include <string>
#include <vector>

namespace kiln {

/// The pass names of a pipeline: "infer" (canonicalize, the fusions, cse, dce,
/// fuse-elementwise) or "train" (the same with autodiff and the optimizer after the fusions,
/// and schedule-updates last).
/// Throws Error for another name.
std::vector<std::string> pipelinePasses(const std::string &name);

/// The names of the pipelines, for help texts.
std::vector<std::string> pipelineNames();

} // namespace kiln
