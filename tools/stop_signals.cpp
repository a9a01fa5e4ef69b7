#include "tools/stop_signals.h"

namespace kiln::tools {

namespace {

volatile std::sig_atomic_t received = 0;

extern "C" void onStopSignal(int signal) {
  received = signal;
  // The next one ends the process.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

} // namespace

StopSignals::StopSignals() {
  received = 0;
  previous_int_ = std::signal(SIGINT, onStopSignal);
  previous_term_ = std::signal(SIGTERM, onStopSignal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

bool StopSignals::requested() const { return received != 0; }

const char *StopSignals::name() const {
  return received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM" : "";
}

int StopSignals::exitStatus() const { return received ? 128 + received : 0; }

} // namespace kiln::tools
