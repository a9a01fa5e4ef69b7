#pragma once
// SIGINT and SIGTERM as requests to stop a long run cleanly.

#include <csignal>

namespace kiln::tools {

/// While alive, SIGINT and SIGTERM do not end the process: they ask the run to stop, which
/// checks requested() between steps, saves its work and exits with exitStatus(). A second
/// signal ends the process at once, as it would without this: a checkpoint being written then is
/// left as it was (files are written atomically), though its temporary file may remain.
/// A signal the process was started with ignored stays ignored.
class StopSignals {
public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals &) = delete;
  StopSignals &operator=(const StopSignals &) = delete;

  /// Whether a signal asked the run to stop.
  bool requested() const;
  /// "SIGINT" or "SIGTERM", whichever came; empty when none did.
  const char *name() const;
  /// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process
  /// the signal ended; 0 when none came.
  int exitStatus() const;

private:
  struct sigaction previous_int_, previous_term_;
};

} // namespace kiln::tools
