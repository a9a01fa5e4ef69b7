#pragma once
// Initial parameter values, seeded and deterministic on every machine.

#include "frontend/model_builder.h"
#include "ir/literal.h"

#include <vector>

namespace kiln {

/// Initial values of the parameters, in order. Element j of parameter i draws from the
/// Philox stream at counter (i << 32) + j, so values do not depend on the platform.
std::vector<Literal> initialValues(const std::vector<ParamSpec> &params, uint64_t seed);

} // namespace kiln
