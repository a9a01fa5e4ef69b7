// Common subexpression elimination: two nodes with the same op, operands, attributes and
// result types compute the same value (every op is pure; random_uniform is a function of its
// seed and offset), so the later one is replaced by the earlier.

#include "passes/pass.h"

#include <unordered_map>

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
    std::unordered_map<Value *, Value *> replaced;
    auto current = [&](Value *v) {
      auto it = replaced.find(v);
      return it == replaced.end() ? v : it->second;
    };
    int merged = 0;
    // One walk in topological order: operands are rewritten before a node's key is taken, so
    // chains of duplicates collapse in a single pass.
    for (auto &n : g.nodes()) {
      for (size_t i = 0; i < n->operands.size(); ++i)
        g.setOperand(*n, i, current(n->operands[i]));
      auto [it, fresh] = seen.emplace(keyOf(*n), n.get());
      if (fresh)
        continue;
      for (size_t i = 0; i < n->results.size(); ++i)
        replaced[n->result(static_cast<int>(i))] = it->second->result(static_cast<int>(i));
      ++merged;
    }
    for (size_t i = 0; i < g.outputs().size(); ++i)
      g.setOutputValue(i, current(g.outputs()[i].value));
    g.eraseNodes([&](const Node &n) { return replaced.count(n.result()) > 0; });
    ctx.count("nodes merged", merged);
    return merged > 0;
  }
};

} // namespace

std::unique_ptr<Pass> createCsePass(const PassOptions &) { return std::make_unique<CsePass>(); }

} // namespace kiln
