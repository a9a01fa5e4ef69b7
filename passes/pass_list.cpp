#include "passes/pass.h"

namespace kiln {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
      {"canonicalize", "fold constants, drop algebraic identities, simplify reshape and transpose chains",
       createCanonicalizePass},
      {"cse", "merge nodes that compute the same value", createCsePass},
      {"dce", "remove nodes whose results no output needs", createDcePass},
  };
  return passes;
}

const PassInfo *lookupPass(std::string_view name) {
  for (const PassInfo &p : allPasses())
    if (p.name == name)
      return &p;
  return nullptr;
}

} // namespace kiln
