#pragma once
// What kiln's corpus tools share: pairs as token ids, compiled programs by batch shape, and the
// loss over a set of batches.

#include "compiler/programs.h"
#include "runtime/data/batching.h"
#include "runtime/data/sentence_pairs.h"
#include "runtime/data/tokenizer.h"
#include "runtime/executable.h"
#include "tools/backend_flags.h"

#include <functional>
#include <map>
#include <memory>

namespace kiln::tools {

/// Each pair's source and target as token ids.
std::vector<data::EncodedPair> encode(const data::Tokenizer &t,
                                      const std::vector<data::SentencePair> &pairs);

/// The shape of a batch.
data::BatchShape shapeOf(const Batch &b);

/// Compiled programs by batch shape, built on first use.
class ProgramCache {
public:
  using Build = std::function<BuiltModel(const GraphOptions &)>;
  /// `build` records the graph of a shape; `dropout` goes into its GraphOptions.
  ProgramCache(Build build, const BackendFlags &backend, double dropout)
      : build_(std::move(build)), backend_(backend), dropout_(dropout) {}

  /// The program of a batch shape, compiled the first time.
  Executable &at(const data::BatchShape &shape);
  /// Programs compiled so far.
  size_t size() const { return programs_.size(); }
  /// The parameters of the programs (all take the same ones).
  const std::vector<ParamSpec> &params() const { return params_; }
  /// Seconds spent building and compiling them.
  double compileSeconds() const { return seconds_; }

private:
  Build build_;
  const BackendFlags &backend_;
  double dropout_;
  std::map<data::BatchShape, std::unique_ptr<Executable>> programs_;
  std::vector<ParamSpec> params_;
  double seconds_ = 0;
};

/// The mean cross-entropy per target token (PAD excluded) over every batch of one epoch of
/// `batches`, run on loss programs with the parameters in `tensors`.
double validationLoss(ProgramCache &programs, const data::BatchSchedule &batches,
                      const std::map<std::string, HostBuffer> &tensors, int64_t pad);

} // namespace kiln::tools
