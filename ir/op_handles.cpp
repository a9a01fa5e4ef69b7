#include "ir/op_handles.h"

#include "ir/diagnostics.h"

#include <array>

namespace kiln {

const OpDef &OpHandle::def() const {
  const OpDef *d = lookupOp(name);
  KILN_ASSERT(d, "an op handle names no op of the table");
  return *d;
}

std::span<const OpHandle> allOpHandles() {
#define KILN_LIST_OP_HANDLE(handle, mnemonic) op::handle,
  static constexpr std::array handles = {KILN_OP_HANDLES(KILN_LIST_OP_HANDLE)};
#undef KILN_LIST_OP_HANDLE
  return handles;
}

} // namespace kiln
