// Common subexpression elimination: two nodes with the same op, operands, attributes and
// result types compute the same value (every op is pure; random_uniform is a function of its
// seed and offset), so the later one is replaced by the earlier.

#include "passes/pass.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {
namespace {

std::string keyOf(const Node &n) {
  std::string key(n.name());
  for (const Value *v : n.operands)
    key += fmt::format(" {}", static_cast<const void *>(v));
  for (const auto &[name, value] : n.attrs)
    key += fmt::format(" {}={}", name, attrStr(value));
  for (const auto &r : n.results)
    key += " " + r->type.str();
  return key;
}

class CsePass : public Pass {
public:
  std::string_view name() const override { return "cse"; }
  bool run(Graph &g, PassContext &ctx) override {
    std::unordered_map<std::string, Node *> seen;
    std::unordered_set<const Node *> merged;
    // One walk in topological order. A duplicate's readers move to the earlier node at once (one
    // pass over its use list), so their operands are canonical before their keys are taken and
    // chains of duplicates collapse in a single pass.
    for (auto &n : g.nodes()) {
      auto [it, fresh] = seen.emplace(keyOf(*n), n.get());
      if (fresh)
        continue;
      for (size_t i = 0; i < n->results.size(); ++i)
        g.replaceAllUsesWith(n->result(static_cast<int>(i)),
                             it->second->result(static_cast<int>(i)));
      merged.insert(n.get());
    }
    g.eraseNodes([&](const Node &n) { return merged.count(&n) > 0; });
    ctx.count("nodes merged", static_cast<int64_t>(merged.size()));
    return !merged.empty();
  }
};

} // namespace

std::unique_ptr<Pass> createCsePass(const PassOptions &) { return std::make_unique<CsePass>(); }

} // namespace kiln
