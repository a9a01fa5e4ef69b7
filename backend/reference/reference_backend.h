#pragma once
// The reference interpreter behind the backend seam.

#include "backend/backend.h"

namespace kiln {

/// The reference backend: the interpreter of backend/reference, every op, f32 or f64.
const Backend &referenceBackend();

} // namespace kiln
