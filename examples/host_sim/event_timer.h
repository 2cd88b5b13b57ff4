// SPDX-License-Identifier: MIT
// A one-shot timer on the simulation's clock (hw::OneShotTimer), for the I/O APIC's
// interrupt-storm guard: Arm schedules the owner's callback, Cancel or a later Arm voids it.
// A hypervisor implements the same two calls over its own timer (an hrtimer, a timer wheel).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_EVENT_TIMER_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_EVENT_TIMER_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "examples/host_sim/event_loop.h"
#include "hw/lapic_bus.h"

namespace host_sim {

class EventTimer : public hw::OneShotTimer {
 public:
  explicit EventTimer(EventLoop& loop) : loop_(loop) {}

  // What firing does (the I/O APIC's OnStormTimer). Set before the first Arm.
  void set_callback(std::function<void()> callback) { callback_ = std::move(callback); }

  void Arm(uint64_t delay_ns) override {
    const uint64_t generation = ++generation_;
    armed_ = true;
    loop_.After(static_cast<cost::Ns>(delay_ns), [this, generation] {
      if (generation != generation_ || !armed_) return;  // cancelled or re-armed since
      armed_ = false;
      ++fired_;
      if (callback_) callback_();
    });
  }
  void Cancel() override {
    armed_ = false;
    ++generation_;
  }

  bool armed() const { return armed_; }
  uint64_t fired() const { return fired_; }

 private:
  EventLoop& loop_;
  std::function<void()> callback_;
  uint64_t generation_ = 0;
  bool armed_ = false;
  uint64_t fired_ = 0;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_EVENT_TIMER_H_
