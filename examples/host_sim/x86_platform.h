// SPDX-License-Identifier: MIT
// The x86 platform adapter: what a hypervisor implements for irqvirt's hw::Platform concept.
//
// Locks, CPU numbering and APIC IDs come from hw::fake::LogicalPlatform (deterministic logical
// pCPUs). Two calls are the hypervisor's own and are implemented here:
//   - WakeVcpu: irqvirt's GA log handler, wakeup-vector handler and rescans call it; it hands
//     the vCPU to the scheduler (after the handler's charged time, as a real wakeup lands once
//     the handler returns).
//   - RegisterVectorHandler: irqvirt registers the GA log vector (GA log mode) and the wakeup
//     vectors (GAPPI mode). This is the hypervisor's interrupt entry: a pCPU still busy with
//     earlier host work takes the interrupt when that work is done, and every handler run is
//     charged for what it did (cost_model.h).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_PLATFORM_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_PLATFORM_H_

#include <array>
#include <bitset>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "examples/host_sim/cost_model.h"
#include "examples/host_sim/event_loop.h"
#include "hw/fake/logical_platform.h"
#include "hw/platform.h"

namespace host_sim {

class X86Platform : public hw::fake::LogicalPlatform {
 public:
  // The host's side: what a handler cost, and where a wakeup goes.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void BeforeHandler(int cpu, uint8_t vector) = 0;
    // Returns the host time the handler took (it already ran).
    virtual cost::Ns AfterHandler(int cpu, uint8_t vector) = 0;
    // That time was charged to `cpu` as [start, end).
    virtual void HandlerCharged(int cpu, uint8_t vector, cost::Ns start, cost::Ns end) = 0;
    // irqvirt asked to wake `vcpu`; the wakeup takes effect at `when`. `cpu` is the CPU whose
    // handler asked (-1: asked outside a handler).
    virtual void WakeRequested(uint32_t vcpu, cost::Ns when, int cpu) = 0;
    // The handler's wakeups have all been requested.
    virtual void HandlerDone(int cpu, uint8_t vector) = 0;
  };

  X86Platform(int num_cpus, uint32_t max_vcpus, EventLoop& loop)
      : LogicalPlatform(num_cpus, max_vcpus), loop_(loop), cpus_(num_cpus) {}

  void set_listener(Listener* listener) { listener_ = listener; }

  // --- hw::Platform: the two calls that are the hypervisor's own ---
  void WakeVcpu(uint32_t vcpu) {
    LogicalPlatform::WakeVcpu(vcpu);  // keeps the per-vCPU wake counters
    if (in_handler_) {
      wakes_in_handler_.push_back(vcpu);  // delivered when the handler's time is up
    } else if (listener_ != nullptr) {
      listener_->WakeRequested(vcpu, loop_.now(), -1);
    }
  }
  absl::Status RegisterVectorHandler(uint8_t vector, hw::VectorHandler handler, void* context) {
    absl::Status s = LogicalPlatform::RegisterVectorHandler(vector, &Entry, this);
    if (s.ok()) handlers_[vector] = {handler, context};
    return s;
  }
  void UnregisterVectorHandler(uint8_t vector) {
    LogicalPlatform::UnregisterVectorHandler(vector);
    handlers_[vector] = {};
  }

  // --- the host ---
  // Host work on `cpu` (an exit, an IOMMU command): it delays that CPU's next interrupt.
  // Returns when it starts: after the work already charged.
  cost::Ns Charge(int cpu, cost::Ns ns) {
    CpuState& c = cpus_[cpu];
    const cost::Ns start = c.busy_until > loop_.now() ? c.busy_until : loop_.now();
    c.busy_until = start + ns;
    return start;
  }
  // Whether `vector` waits, latched, for `cpu` to finish earlier work.
  bool Latched(int cpu, uint8_t vector) const { return cpus_[cpu].deferred.test(vector); }
  // Before `cpu` goes offline: interrupts it has latched are handled on the way down.
  void HandleDeferredNow(int cpu) {
    while (cpus_[cpu].deferred.any()) RunHandler(cpu, TakeHighest(cpu));
  }
  cost::Ns busy_until(int cpu) const { return cpus_[cpu].busy_until; }
  // The CPU with `apic_id`, or -1.
  int CpuOfApicId(uint32_t id) const {
    for (int c = 0; c < num_cpus(); ++c) {
      if (apic_id(c) == id) return c;
    }
    return -1;
  }

 private:
  struct Handler {
    hw::VectorHandler fn = nullptr;
    void* context = nullptr;
  };
  struct CpuState {
    cost::Ns busy_until = 0;
    std::bitset<256> deferred;  // latched while busy, like a local APIC's IRR
    bool window_scheduled = false;
  };

  static void Entry(void* context, int cpu, uint8_t vector) {
    static_cast<X86Platform*>(context)->OnInterrupt(cpu, vector);
  }

  void OnInterrupt(int cpu, uint8_t vector) {
    CpuState& c = cpus_[cpu];
    if (loop_.now() < c.busy_until || c.deferred.any()) {
      c.deferred.set(vector);
      ScheduleWindow(cpu);
      return;
    }
    RunHandler(cpu, vector);
  }

  void ScheduleWindow(int cpu) {
    CpuState& c = cpus_[cpu];
    if (c.window_scheduled) return;
    c.window_scheduled = true;
    loop_.At(c.busy_until, [this, cpu] {
      cpus_[cpu].window_scheduled = false;
      if (!cpus_[cpu].deferred.any()) return;
      if (!online(cpu)) return;  // handled by HandleDeferredNow before it went down
      RunHandler(cpu, TakeHighest(cpu));
      if (cpus_[cpu].deferred.any()) ScheduleWindow(cpu);
    });
  }

  uint8_t TakeHighest(int cpu) {
    int v = 255;
    while (!cpus_[cpu].deferred.test(v)) --v;
    cpus_[cpu].deferred.reset(v);
    return static_cast<uint8_t>(v);
  }

  // Runs irqvirt's handler on `cpu` with interrupts off, as the interrupt entry would.
  void RunHandler(int cpu, uint8_t vector) {
    const Handler h = handlers_[vector];
    if (h.fn == nullptr) return;
    const int saved_cpu = current_cpu();
    const bool saved_off = irqs_disabled(cpu);
    SetCurrentCpu(cpu);
    if (!saved_off) SetIrqsDisabled(cpu, true);
    if (listener_ != nullptr) listener_->BeforeHandler(cpu, vector);
    in_handler_ = true;
    h.fn(h.context, cpu, vector);
    in_handler_ = false;
    const cost::Ns spent = listener_ != nullptr ? listener_->AfterHandler(cpu, vector) : 0;
    const cost::Ns start = Charge(cpu, spent);
    if (listener_ != nullptr) listener_->HandlerCharged(cpu, vector, start, start + spent);
    if (!saved_off) SetIrqsDisabled(cpu, false);
    SetCurrentCpu(saved_cpu);
    std::vector<uint32_t> wakes;
    wakes.swap(wakes_in_handler_);
    for (uint32_t v : wakes) {
      if (listener_ != nullptr) listener_->WakeRequested(v, cpus_[cpu].busy_until, cpu);
    }
    if (listener_ != nullptr) listener_->HandlerDone(cpu, vector);
  }

  EventLoop& loop_;
  Listener* listener_ = nullptr;
  std::array<Handler, 256> handlers_{};
  std::vector<CpuState> cpus_;
  bool in_handler_ = false;
  std::vector<uint32_t> wakes_in_handler_;
};

static_assert(hw::Platform<X86Platform>);

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_PLATFORM_H_
