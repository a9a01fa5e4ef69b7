#include "tools/stop_signals.h"

#include <atomic>

namespace kiln::tools {

namespace {

// Lock-free, so the handler may write it from whichever thread the signal lands on.
std::atomic<int> received{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void onStopSignal(int signal) { received.store(signal); }

/// Installs the handler for one signal, unless the process was started with it ignored (a
/// background job); SA_RESETHAND makes the next one act as if the handler were not there.
struct sigaction install(int signal) {
  struct sigaction previous {};
  sigaction(signal, nullptr, &previous);
  if (previous.sa_handler == SIG_IGN)
    return previous;
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
  return previous;
}

} // namespace

StopSignals::StopSignals() {
  received.store(0);
  previous_int_ = install(SIGINT);
  previous_term_ = install(SIGTERM);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

bool StopSignals::requested() const { return received.load() != 0; }

const char *StopSignals::name() const {
  int signal = received.load();
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "";
}

int StopSignals::exitStatus() const {
  int signal = received.load();
  return signal ? 128 + signal : 0;
}

} // namespace kiln::tools
