// SPDX-License-Identifier: MIT
// A discrete-event loop: simulated time only moves when the next event is taken. Events at the
// same instant run in the order they were scheduled, so a run is a pure function of its seed.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_EVENT_LOOP_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_EVENT_LOOP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "examples/host_sim/cost_model.h"

namespace host_sim {

class EventLoop {
 public:
  using Ns = cost::Ns;

  Ns now() const { return now_; }
  uint64_t events_run() const { return events_run_; }

  void At(Ns when, std::function<void()> fn) {
    uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<uint32_t>(fns_.size());
      fns_.push_back(std::move(fn));
    } else {
      slot = free_.back();
      free_.pop_back();
      fns_[slot] = std::move(fn);
    }
    queue_.push(Event{when < now_ ? now_ : when, next_seq_++, slot});
  }
  void After(Ns delay, std::function<void()> fn) { At(now_ + delay, std::move(fn)); }
  // RunUntil returns after the event that is running (a host stops at its first failure).
  void Stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  using WallTime = std::chrono::steady_clock::time_point;

  // Runs events up to and including `end`. With `progress`, prints a progress line (labelled
  // `label`) about once a second once the whole run (which started at `run_start`) has taken
  // more than two seconds of wall time.
  void RunUntil(Ns end, std::ostream* progress = nullptr, const std::string& label = "",
                WallTime run_start = std::chrono::steady_clock::now()) {
    const auto start = run_start;
    auto last_print = std::chrono::steady_clock::now();
    while (!stopped_ && !queue_.empty() && queue_.top().when <= end) {
      const Event e = queue_.top();
      queue_.pop();
      now_ = e.when;
      std::function<void()> fn = std::move(fns_[e.slot]);
      free_.push_back(e.slot);
      fn();
      ++events_run_;
      if (progress != nullptr && (events_run_ & 0xfff) == 0) {
        const auto t = std::chrono::steady_clock::now();
        if (t - start > std::chrono::seconds(2) &&
            (t - last_print > std::chrono::seconds(1) || !printed_)) {
          last_print = t;
          printed_ = true;
          *progress << "host_sim: " << label << ": " << now_ / cost::kUs << " of "
                    << end / cost::kUs << " simulated us\n"
                    << std::flush;
        }
      }
    }
    if (now_ < end && !stopped_) now_ = end;
  }

 private:
  // The heap holds plain entries; the callbacks stay put in slots (cheap heap moves).
  struct Event {
    Ns when;
    uint64_t seq;
    uint32_t slot;
    bool operator>(const Event& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  std::vector<std::function<void()>> fns_;
  std::vector<uint32_t> free_;
  Ns now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
  bool printed_ = false;
  bool stopped_ = false;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_EVENT_LOOP_H_
