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

/// Named options of passes, from kiln-opt flags such as --wrt=a,b.
using PassOptions = std::map<std::string, std::string>;
/// The value of an option, or a default.
std::string optionOr(const PassOptions &opts, const std::string &name, const std::string &fallback);
/// Splits "a,b,c" into its non-empty parts.
std::vector<std::string> splitList(std::string_view list);

/// An option a pass accepts, with its help text.
struct PassOption {
  std::string_view name;
  std::string_view help;
};

/// One entry of the pass list.
struct PassInfo {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<Pass> (*create)(const PassOptions &);
  std::vector<PassOption> options = {};
};

/// Every registered pass, in list order.
const std::vector<PassInfo> &allPasses();
/// The pass of this name, or nullptr.
const PassInfo *lookupPass(std::string_view name);

std::unique_ptr<Pass> createCanonicalizePass(const PassOptions &);
std::unique_ptr<Pass> createCsePass(const PassOptions &);
std::unique_ptr<Pass> createDcePass(const PassOptions &);
std::unique_ptr<Pass> createAutodiffPass(const PassOptions &);
std::unique_ptr<Pass> createOptimizerPass(const PassOptions &);

} // namespace kiln
