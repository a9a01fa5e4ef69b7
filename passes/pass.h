#pragma once
// A pass transforms a graph in place. Each pass lives in its own file and is listed once in
// pass_list.cpp, which also gives kiln-opt its flags.

#include "ir/graph.h"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

namespace kiln {

/// A note from a pass about a place in the graph, e.g. why a pattern did not fuse there.
struct Remark {
  Location loc;
  std::string message;
  bool operator<(const Remark &o) const {
    return std::tie(loc.file, loc.line, loc.col, message) <
           std::tie(o.loc.file, o.loc.line, o.loc.col, o.message);
  }
};

/// What a pass run reports besides the graph: named counters for --pass-statistics, and
/// missed-optimization remarks for --remarks=missed.
class PassContext {
public:
  /// Adds n to the counter `what` of the running pass.
  void count(std::string_view what, int64_t n = 1) { counters_[std::string(what)] += n; }
  /// The counters so far, by name.
  const std::map<std::string, int64_t> &counters() const { return counters_; }
  /// Notes why a rewrite did not happen at a location (each distinct remark once).
  void missed(const Location &loc, std::string message) {
    missed_.insert(Remark{loc, std::move(message)});
  }
  /// The missed-optimization remarks, ordered by location.
  const std::set<Remark> &missedRemarks() const { return missed_; }

private:
  std::map<std::string, int64_t> counters_;
  std::set<Remark> missed_;
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
std::unique_ptr<Pass> createFuseSoftmaxPass(const PassOptions &);
std::unique_ptr<Pass> createFuseLayerNormPass(const PassOptions &);
std::unique_ptr<Pass> createFuseAttentionPass(const PassOptions &);
std::unique_ptr<Pass> createFuseCrossEntropyPass(const PassOptions &);
std::unique_ptr<Pass> createMixedPrecisionPass(const PassOptions &);
std::unique_ptr<Pass> createScheduleUpdatesPass(const PassOptions &);
std::unique_ptr<Pass> createExpandAttentionPass(const PassOptions &);
std::unique_ptr<Pass> createFuseElementwisePass(const PassOptions &);
std::unique_ptr<Pass> createAutodiffPass(const PassOptions &);
std::unique_ptr<Pass> createOptimizerPass(const PassOptions &);
std::unique_ptr<Pass> createDataParallelPass(const PassOptions &);
/// data-parallel with buckets of about this many bytes of gradients.
std::unique_ptr<Pass> createDataParallelPass(int64_t bucket_bytes);

} // namespace kiln
