#pragma once
// What the CPU backend runs on: the LLVM and oneDNN it links and the host it targets.

#include <string>

namespace kiln::cpu {

/// One line naming the LLVM version, the host triple and CPU, and the oneDNN version.
std::string hostInfo();

} // namespace kiln::cpu
