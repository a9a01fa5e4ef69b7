#include "backend/kernel/lowerings.h"

namespace kiln::kernel {

void addReductionLowerings(LoweringTable &) {}

} // namespace kiln::kernel
