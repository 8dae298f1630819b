#pragma once

#include <pthread.h>

#include <csignal>
#include <initializer_list>
#include <string_view>

namespace mutual::app {

// The signals a long-running role (proxy, server, agent) stops on, SIGTERM and SIGINT, plus any
// it reacts to (the proxy's SIGHUP), taken by sigwait on the role's main thread. Construct it
// before any thread starts: the signals are blocked on construction and every thread inherits
// the mask, so none of them is interrupted. SIGPIPE is ignored: a write to a peer that left is
// an error return, not the end of the process.
class StopSignals {
 public:
  explicit StopSignals(std::initializer_list<int> also = {}) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    for (int signal : also) sigaddset(&set_, signal);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
  }

  // Blocks until one of the signals arrives; returns it.
  int wait() const {
    int signal = 0;
    while (sigwait(&set_, &signal) != 0) {
    }
    return signal;
  }

  static std::string_view name(int signal) {
    switch (signal) {
      case SIGTERM: return "SIGTERM";
      case SIGINT: return "SIGINT";
      case SIGHUP: return "SIGHUP";
      default: return "signal";
    }
  }

 private:
  sigset_t set_;
};

}  // namespace mutual::app
