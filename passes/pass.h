#pragma once
// A pass transforms a graph in place. Each pass lives in its own file and is listed once in
// pass_list.cpp, which also gives kiln-opt its flags.

#include "ir/graph.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace kiln {

/// What a pass run reports besides the graph: named counters for --pass-statistics.
class PassContext {
public:
  /// Adds n to the counter `what` of the running pass.
  void count(std::string_view what, int64_t n = 1) { counters_[std::string(what)] += n; }
  /// The counters so far, by name.
  const std::map<std::string, int64_t> &counters() const { return counters_; }

private:
  std::map<std::string, int64_t> counters_;
};

/// A graph transformation.
class Pass {
public:
  virtual ~Pass() = default;
  /// The flag name, e.g. "cse".
  virtual std::string_view name() const = 0;
  /// Transforms the graph; returns whether it changed anything.
  virtual bool run(Graph &g, PassContext &ctx) = 0;
};

/// One entry of the pass list.
struct PassInfo {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Pass> (*create)();
};

/// Every registered pass, in list order.
const std::vector<PassInfo> &allPasses();
/// The pass of this name, or nullptr.
const PassInfo *lookupPass(std::string_view name);

std::unique_ptr<Pass> createCanonicalizePass();
std::unique_ptr<Pass> createCsePass();
std::unique_ptr<Pass> createDcePass();

} // namespace kiln
