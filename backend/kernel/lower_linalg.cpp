#include "backend/kernel/lowerings.h"

namespace kiln::kernel {

void addLinalgLowerings(LoweringTable &) {}

} // namespace kiln::kernel
