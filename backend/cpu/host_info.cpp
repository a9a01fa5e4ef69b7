#include "backend/cpu/host_info.h"

#include <dnnl.h>
#include <fmt/format.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>

namespace kiln::cpu {

std::string hostInfo() {
  const dnnl_version_t *v = dnnl_version();
  return fmt::format("LLVM {} (target {}, cpu {}); oneDNN {}.{}.{}", LLVM_VERSION_STRING,
                     llvm::sys::getDefaultTargetTriple(), llvm::sys::getHostCPUName().str(),
                     v->major, v->minor, v->patch);
}

} // namespace kiln::cpu
