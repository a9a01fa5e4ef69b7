// Dead code elimination: nodes that no output depends on are removed. Graph inputs stay: they
// are the graph's interface.

#include "passes/pass.h"

namespace kiln {
namespace {

class DcePass : public Pass {
public:
  std::string_view name() const override { return "dce"; }
  bool run(Graph &g, PassContext &ctx) override {
    int removed = g.removeDeadNodes();
    ctx.count("nodes removed", removed);
    return removed > 0;
  }
};

} // namespace

std::unique_ptr<Pass> createDcePass(const PassOptions &) { return std::make_unique<DcePass>(); }

} // namespace kiln
