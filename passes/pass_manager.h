#pragma once
// The pass manager: runs passes in order, verifies after each, and can print the IR after
// each pass, time them and report what they changed.

#include "passes/pass.h"

#include <iosfwd>
#include <set>
#include <vector>

namespace kiln {

/// How a pass manager instruments its passes.
struct PassManagerOptions {
  bool verify_each = true;           ///< run the verifier after every pass
  bool print_after_all = false;      ///< print the IR after every pass
  std::set<std::string> print_after; ///< print the IR after these passes
  bool timing = false;               ///< report the time of each pass
  bool statistics = false;           ///< report each pass's counters
  bool remarks_missed = false;       ///< collect the passes' missed-optimization remarks
};

/// A pipeline of passes.
class PassManager {
public:
  explicit PassManager(PassManagerOptions opts = {}) : opts_(std::move(opts)) {}

  void addPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  /// Adds the passes named in a comma-separated list; throws Error naming an unknown pass.
  void addPipeline(std::string_view names, const PassOptions &options = {});
  bool empty() const { return passes_.empty(); }

  /// Runs every pass; IR dumps go to `dump`. A verifier failure after a pass is reported as an
  /// Error naming the pass.
  void run(Graph &g, std::ostream &dump);
  /// Writes the timing and statistics reports that the options asked for.
  void report(std::ostream &os) const;
  /// The missed-optimization remarks of every pass run so far, each prefixed by its pass.
  const std::vector<Remark> &remarks() const { return remarks_; }

private:
  struct Record {
    std::string name;
    double seconds = 0;
    std::map<std::string, int64_t> counters;
  };
  PassManagerOptions opts_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<Record> records_;
  std::vector<Remark> remarks_;
};

/// Names of the passes, comma-separated, for messages.
std::string passNames();

} // namespace kiln
