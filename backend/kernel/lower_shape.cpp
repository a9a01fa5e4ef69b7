#include "backend/kernel/lowerings.h"

namespace kiln::kernel {

void addShapeLowerings(LoweringTable &) {}

} // namespace kiln::kernel
