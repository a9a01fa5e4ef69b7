#include "backend/kernel/lowerings.h"

namespace kiln::kernel {

void addNNLowerings(LoweringTable &) {}

} // namespace kiln::kernel
