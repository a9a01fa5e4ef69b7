#include "passes/pass_manager.h"

#include "ir/printer.h"
#include "ir/verifier.h"

#include <chrono>
#include <ostream>

namespace kiln {

std::string passNames() {
  std::string names;
  for (const PassInfo &p : allPasses())
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  return names;
}

void PassManager::addPipeline(std::string_view names, const PassOptions &options) {
  for (const std::string &name : splitList(names)) {
    const PassInfo *info = lookupPass(name);
    if (!info)
      throw Error({}, fmt::format("unknown pass '{}'; known passes: {}", name, passNames()));
    addPass(info->create(options));
  }
}

void PassManager::run(Graph &g, std::ostream &dump) {
  for (auto &pass : passes_) {
    PassContext ctx;
    auto start = std::chrono::steady_clock::now();
    pass->run(g, ctx);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    records_.push_back(Record{std::string(pass->name()), seconds, ctx.counters()});
    if (opts_.remarks_missed)
      for (const Remark &r : ctx.missedRemarks())
        remarks_.push_back(Remark{r.loc, fmt::format("[{}] {}", pass->name(), r.message)});
    if (opts_.verify_each) {
      try {
        verifyGraph(g);
      } catch (const Error &e) {
        throw Error(e.location(), fmt::format("after pass '{}': {}", pass->name(), e.message()));
      }
    }
    if (opts_.print_after_all || opts_.print_after.count(std::string(pass->name())))
      dump << "// -----// IR Dump After " << pass->name() << " //----- //\n" << printGraph(g);
  }
}

void PassManager::report(std::ostream &os) const {
  if (opts_.timing) {
    double total = 0;
    for (const Record &r : records_)
      total += r.seconds;
    os << "===-------------------------------------------------------------------------===\n"
       << "                         ... Pass execution timing report ...\n"
       << "===-------------------------------------------------------------------------===\n"
       << fmt::format("  Total Execution Time: {:.4f} seconds\n\n", total)
       << "  ----Wall Time----  ----Name----\n";
    for (const Record &r : records_)
      os << fmt::format("  {:.4f} ({:5.1f}%)  {}\n", r.seconds,
                        total > 0 ? 100 * r.seconds / total : 0.0, r.name);
    os << fmt::format("  {:.4f} (100.0%)  Total\n", total);
  }
  if (opts_.statistics) {
    os << "===-------------------------------------------------------------------------===\n"
       << "                         ... Pass statistics report ...\n"
       << "===-------------------------------------------------------------------------===\n";
    for (const Record &r : records_) {
      os << r.name << "\n";
      for (const auto &[what, n] : r.counters)
        os << fmt::format("  ({}) {}\n", n, what);
    }
  }
}

} // namespace kiln
