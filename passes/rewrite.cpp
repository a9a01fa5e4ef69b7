#include "passes/rewrite.h"

namespace kiln {

int applyPatternsGreedily(Graph &g, std::span<const RewritePattern> patterns, PassContext &ctx) {
  constexpr int kMaxSweeps = 32;
  int total = 0;
  // Dead code the graph came with is dce's business; only what the rewrites orphan goes.
  const std::unordered_set<const Node *> dead_before = g.deadNodes();
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    int rewrites = 0;
    // New nodes are appended during the sweep; they are visited in the next one.
    size_t end = g.nodes().size();
    for (size_t i = 0; i < end; ++i) {
      Node &n = *g.nodes()[i];
      if (n.results.size() != 1)
        continue;
      for (const RewritePattern &p : patterns) {
        if (p.root && !n.is(*p.root))
          continue;
        Builder b(g, n.loc);
        Rewriter r{g, b, ctx};
        Value *replacement = p.rewrite(n, r);
        if (!replacement)
          continue;
        KILN_ASSERT(replacement->type == n.result()->type, "a rewrite changed a value's type");
        g.replaceAllUsesWith(n.result(), replacement);
        ctx.count(p.name);
        ++rewrites;
        break;
      }
    }
    g.removeDeadNodes(dead_before);
    g.sortTopologically();
    total += rewrites;
    if (rewrites == 0)
      break;
  }
  return total;
}

namespace {

class PatternPass : public Pass {
public:
  PatternPass(std::string_view name, std::span<const RewritePattern> patterns)
      : name_(name), patterns_(patterns) {}
  std::string_view name() const override { return name_; }
  bool run(Graph &g, PassContext &ctx) override {
    return applyPatternsGreedily(g, patterns_, ctx) > 0;
  }

private:
  std::string_view name_;
  std::span<const RewritePattern> patterns_;
};

} // namespace

std::unique_ptr<Pass> createPatternPass(std::string_view name,
                                        std::span<const RewritePattern> patterns) {
  return std::make_unique<PatternPass>(name, patterns);
}

} // namespace kiln
