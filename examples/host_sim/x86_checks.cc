// SPDX-License-Identifier: MIT
// The x86 host as an oracle: what it checks while the run goes on, and the handler accounting
// those checks follow.
//   - Notifications: every doorbell, posted-interrupt notification, GAPPI vector and GA log entry
//     is checked against where its vCPU is (running on that pCPU, parked on that CPU's queue
//     with that vector, blocked).
//   - Lost wakeups: after every host handler run (GA log, wakeup vectors, notifications), after
//     every Block that sleeps, after CPU offline and on a watchdog, a blocked vCPU with an
//     interrupt pending must have a wakeup coming: requested, or a GA log entry or wakeup
//     vector on its way to a handler that will request it.
//   - Undelivered interrupts: each must still be held by a pending state that can deliver it
//     (its IRR or PIR bit, its device's line); every asserted, unmasked line must be delivered
//     (Remote IRR set) unless the storm guard holds it back.
//   - Bounds: the oldest undelivered interrupt and the longest-sleeping vCPU with one pending,
//     against limits derived from the cost model (RaiseBound, WakeBound).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"

namespace host_sim {
namespace {

constexpr cost::Ns kWatchdogPeriod = 25 * cost::kUs;

const char* StateName(int s) {
  static const char* const kNames[] = {"runnable", "running", "in its HLT exit", "blocked"};
  return kNames[s];
}

}  // namespace

// The longest a device's interrupt may wait for its guest handler, on this host:
//   the vCPU may wait in a run queue behind every other vCPU of its CPU (two CPUs stay online),
//   a slice each; its guest may have every MSI vector and every line (with a burst, up to the
//   storm threshold) ahead of it; the storm guard may hold a line back; the CPU that must wake
//   it may be in the longest handler (a full GA log, or a wakeup queue of every vCPU).
cost::Ns X86Host::RaiseBound() const {
  const cost::Ns guest =
      (16 + x86::kLinesPerVm * (x86::kStormThreshold + x86::kLineBurstItems)) *
      cost::kGuestIrqHandler;
  return WakeBound() + guest + x86::kStormDelay;
}

// The longest a blocked vCPU with a pending interrupt may wait to run again.
cost::Ns X86Host::WakeBound() const {
  const cost::Ns sched = x86::kSlice * ((total_vcpus_ + 1) / 2 + 1);
  const cost::Ns handler = cost::kIrqEntry + 512 * cost::kGaLogEntry +
                           total_vcpus_ * (cost::kVcpuScanned + cost::kVcpuWoken);
  return sched + 2 * handler + cost::kHltExit + x86::kOfflineFor / 10;
}

std::string X86Host::VcpuStory(int g) const {
  const Vcpu& v = vcpus_[g];
  return stories_.Tell(static_cast<uint64_t>(g),
                       absl::StrFormat("vCPU %d (VM %d), now %s on pCPU %d", g, v.vm,
                                       StateName(static_cast<int>(v.state)), v.cpu));
}

void X86Host::CheckNotification(const Irte& irte, const Posted& p) {
  const int g = p.vcpu;
  const Vcpu& v = vcpus_[g];
  const bool in_guest_or_exiting = v.state == State::kRunning || v.state == State::kHalting;
  std::string wrong;
  switch (p.how) {
    case Posted::How::kDoorbell:
      if (!in_guest_or_exiting) {
        wrong = absl::StrFormat("a doorbell to pCPU %d for vCPU %d, which is %s", p.cpu, g,
                                StateName(static_cast<int>(v.state)));
      } else if (p.cpu != v.cpu) {
        wrong = absl::StrFormat("a doorbell for vCPU %d went to pCPU %d, but it runs on pCPU %d",
                                g, p.cpu, v.cpu);
      }
      break;
    case Posted::How::kNotify:
      if (posting_->PostedVector() != 0 && p.vector == posting_->PostedVector()) {
        if (!in_guest_or_exiting && v.state != State::kRunnable) {
          wrong = absl::StrFormat("posted-interrupt notification to pCPU %d for vCPU %d, which is %s",
                                  p.cpu, g, StateName(static_cast<int>(v.state)));
        } else if (v.state != State::kRunnable && p.cpu != v.cpu) {
          wrong = absl::StrFormat(
              "the notification for vCPU %d went to pCPU %d, but it runs on pCPU %d", g, p.cpu,
              v.cpu);
        }
      } else if (posting_->ParkedCpu(g) != p.cpu || posting_->WakeupVector(g) != p.vector) {
        wrong = absl::StrFormat(
            "wakeup vector %#x went to pCPU %d for vCPU %d, which is %s and parked on pCPU %d "
            "with wakeup vector %#x",
            p.vector, p.cpu, g, StateName(static_cast<int>(v.state)), posting_->ParkedCpu(g),
            posting_->WakeupVector(g));
      }
      break;
    case Posted::How::kGaLog:
    case Posted::How::kGaLogDropped:
      // GALogIntr from Block's kSleep until the next Load (a woken vCPU waiting for a pCPU
      // still has it).
      if (!v.blocked_in_router) {
        wrong = absl::StrFormat("a GA log entry for vCPU %d, which is %s and not blocked",
                                g, StateName(static_cast<int>(v.state)));
      }
      break;
    case Posted::How::kQuiet:
      if (mode_ != X86Mode::kVtd && in_guest_or_exiting) {
        wrong = absl::StrFormat("an MSI posted into running vCPU %d's IRR without a doorbell", g);
      }
      break;
    case Posted::How::kFault:
      break;
  }
  if (!wrong.empty()) {
    Failure(absl::StrFormat("IRTE %#x:%u: %s", irte.device_id, irte.index, wrong) +
            VcpuStory(g));
  }
}

// Whether something already on its way will wake blocked vCPU g.
bool X86Host::WakeInFlight(int g) {
  const Vcpu& v = vcpus_[g];
  if (v.wake_coming) return true;
  const auto sent_to = [this](int cpu, uint8_t vector) {
    if (cpu < 0 || vector == 0) return false;
    if (platform_.Latched(cpu, vector)) return true;
    const std::deque<uint8_t>& q = pcpus_[cpu].inflight;
    return std::find(q.begin(), q.end(), vector) != q.end();
  };
  if (mode_ == X86Mode::kGaLog) {
    // Entries not yet drained, or the GA log interrupt on its way: the handler runs next and
    // this check follows it.
    if (posting_->GaLogEntriesQueued() > 0) return true;
    for (int c = 0; c < options_.pcpus; ++c) {
      if (sent_to(c, posting_->GaLogVector())) return true;
    }
    return false;
  }
  return sent_to(posting_->ParkedCpu(g), posting_->WakeupVector(g));
}

void X86Host::CheckStranded(const char* after) {
  for (int g = 0; g < total_vcpus_; ++g) {
    Vcpu& v = vcpus_[g];
    if (v.state != State::kBlocked || v.stranded || !HasPending(g) || WakeInFlight(g)) continue;
    v.stranded = true;
    ++lost_wakeups_;
    trace_.Instant(v.track, loop_.now(), "lost wakeup: interrupt pending, no wakeup coming");
    stories_.Add(static_cast<uint64_t>(g), loop_.now(),
                 "LOST WAKEUP: blocked, interrupt pending, no wakeup coming");
    if (!baseline_) {
      Failure(absl::StrFormat("vCPU %d is blocked with an interrupt pending (IRR vector %#x) and "
                              "no wakeup coming (checked after %s)",
                              g, std::max(0, Page(g).Highest(hw::x86::ApicVectorReg::kIrr)),
                              after) +
              VcpuStory(g));
    }
  }
}

// Every asserted line of `vm` is delivered (Remote IRR set), masked, or held by the storm guard.
void X86Host::CheckLines(int vm) {
  Vm& m = vms_[vm];
  if (m.storm_timer->armed()) return;
  for (int l = 0; l < x86::kLinesPerVm; ++l) {
    if (m.lines[l].work == 0) continue;
    const int pin = x86::kFirstLinePin + l;
    auto e = m.ioapic->Entry(pin);
    if (!e.ok() || e->mask() != 0 || e->remote_irr() != 0) continue;
    Failure(absl::StrFormat("VM %d pin %d: the device holds its line high (%u items), the entry "
                            "is unmasked and Remote IRR is 0, yet the I/O APIC delivered nothing",
                            vm, pin, m.lines[l].work) +
            stories_.Tell(0x10000 + x86::LineKey(vm, l), absl::StrFormat("VM %d pin %d", vm, pin)));
    return;
  }
}

void X86Host::Watchdog() {
  const cost::Ns now = loop_.now();
  CheckStranded("the watchdog");
  // Every MSI owed is held by an IRR or PIR bit.
  if (auto lost = msi_ledger_.FirstUnheld([&](uint64_t key) {
        const int g = static_cast<int>(key >> 8);
        const uint8_t vector = static_cast<uint8_t>(key & 0xff);
        return Page(g).Test(hw::x86::ApicVectorReg::kIrr, vector) || posting_->PirHas(g, vector);
      })) {
    const int g = static_cast<int>(*lost >> 8);
    Failure(absl::StrFormat("vCPU %d: MSIs of vector %#x raised since %.3f us are owed, but "
                            "neither its IRR nor its PIR holds the vector any more: lost",
                            g, *lost & 0xff,
                            static_cast<double>(*msi_ledger_.OldestOf(*lost)) / cost::kUs) +
            VcpuStory(g));
  }
  for (int vm = 0; vm < options_.vms; ++vm) CheckLines(vm);
  if (auto late = msi_ledger_.Overdue(now, RaiseBound(), [](uint64_t key) {
        return absl::StrFormat("an MSI of vCPU %u (vector %#x)", key >> 8, key & 0xff);
      })) {
    Failure(late->second + VcpuStory(static_cast<int>(late->first >> 8)));
  }
  if (auto late = line_ledger_.Overdue(now, RaiseBound(), [](uint64_t key) {
        return absl::StrFormat("work of VM %u pin %u", key >> 8, x86::kFirstLinePin + (key & 0xff));
      })) {
    Failure(late->second + stories_.Tell(0x10000 + late->first, "that line"));
  }
  if (!baseline_) {
    for (int g = 0; g < total_vcpus_; ++g) {
      const Vcpu& v = vcpus_[g];
      if (v.state == State::kBlocked && v.pending_since >= 0 && !v.stranded &&
          now - v.pending_since > WakeBound()) {
        Failure(absl::StrFormat("vCPU %d has slept %.0f us with an interrupt pending (bound %.0f "
                                "us)",
                                g, static_cast<double>(now - v.pending_since) / 1000,
                                static_cast<double>(WakeBound()) / 1000) +
                VcpuStory(g));
        break;
      }
    }
  }
  if (now < end_of_traffic_ + 5000 * cost::kUs) loop_.After(kWatchdogPeriod, [this] { Watchdog(); });
}

// ------------------------------------------------------------------------------------------
// Handler accounting (X86Platform::Listener): each run is charged for the work it did, from
// irqvirt's and the fakes' own counters.

void X86Host::BeforeHandler(int cpu, uint8_t vector) {
  woken_before_ = platform_.total_wakes();
  queue_length_before_ = posting_->QueueLength(cpu, vector);
  ga_log_queued_before_ = vector == posting_->GaLogVector() ? posting_->GaLogEntriesQueued() : 0;
  rescan_checks_before_ = posting_->RescanChecks();
}

cost::Ns X86Host::AfterHandler(int cpu, uint8_t vector) {
  const uint64_t woken = platform_.total_wakes() - woken_before_;
  cost::Ns spent = cost::kIrqEntry + static_cast<cost::Ns>(woken) * cost::kVcpuWoken;
  if (vector == posting_->GaLogVector()) {
    ++ga_log_handler_runs_;
    const uint64_t checks = posting_->RescanChecks() - rescan_checks_before_;
    spent += static_cast<cost::Ns>(ga_log_queued_before_) * cost::kGaLogEntry +
             static_cast<cost::Ns>(checks) * cost::kVcpuScanned;
    vcpus_scanned_ += checks;
    if (trace_.enabled()) {
      handler_name_ = checks == 0 ? absl::StrFormat("GA log drain: %u entries, %u woken",
                                                    ga_log_queued_before_, woken)
                                  : absl::StrFormat("GA log drain + overflow rescan: %u entries, "
                                                    "%u checked, %u woken",
                                                    ga_log_queued_before_, checks, woken);
    }
  } else if (vector != posting_->PostedVector()) {
    ++wakeup_handler_runs_;
    ++wakeup_irqs_per_cpu_[cpu];
    spent += static_cast<cost::Ns>(queue_length_before_) * cost::kVcpuScanned;
    vcpus_scanned_ += queue_length_before_;
    if (trace_.enabled()) {
      handler_name_ = absl::StrFormat("wakeup vector %#x: %u scanned, %u woken", vector,
                                      queue_length_before_, woken);
    }
  } else {
    ++other_handler_runs_;
    if (trace_.enabled()) handler_name_ = "posted-interrupt notification outside the guest";
  }
  handler_ns_ += spent;
  max_handler_ns_ = std::max(max_handler_ns_, spent);
  return spent;
}

void X86Host::HandlerCharged(int cpu, uint8_t, cost::Ns start, cost::Ns end) {
  handler_start_ = start;
  trace_.Slice(pcpus_[cpu].track, start, end, handler_name_, TraceCat::kHost);
}

void X86Host::WakeRequested(uint32_t vcpu, cost::Ns when, int cpu) {
  ++wake_requests_;
  const int g = static_cast<int>(vcpu);
  if (options_.hooks.drop_every_nth_wake != 0 &&
      wake_requests_ % options_.hooks.drop_every_nth_wake == 0) {
    ++dropped_wakes_;  // the deliberate defect: this wakeup never reaches the scheduler
    return;
  }
  stories_.Add(vcpu, loop_.now(), "irqvirt asks to wake it (from pCPU %lld's handler)", cpu);
  if (cpu >= 0) TraceWakeSteps(g, cpu, handler_start_);
  vcpus_[g].wake_coming = true;
  loop_.At(when, [this, g] { Wake(g); });
}

// The wake, in the flows of the interrupts that were waiting for it (each flow once: GA log
// entries ask again and again for the same vCPU).
void X86Host::TraceWakeSteps(int g, int cpu, cost::Ns at) {
  if (!trace_.enabled()) return;
  Vcpu& v = vcpus_[g];
  const uint64_t lo = x86::MsiKey(g, 0), hi = x86::MsiKey(g, 0xff);
  uint64_t newest = v.last_wake_flow;
  msi_ledger_.ForEachRaiseIn(lo, hi, [&](uint64_t, const InterruptLedger::Raise& r) {
    if (r.flow <= v.last_wake_flow) return;
    trace_.FlowStep(r.flow, pcpus_[cpu].track, at);
    newest = std::max(newest, r.flow);
  });
  v.last_wake_flow = newest;
}

// The GA log's fill level, from the IOMMU's head and tail, when it has moved by 8 entries.
void X86Host::TraceGaLogFill() {
  const uint32_t fill = posting_->GaLogEntriesQueued();
  if (fill == ga_log_fill_traced_ ||
      (fill != 0 && fill + 8 > ga_log_fill_traced_ && fill < ga_log_fill_traced_ + 8)) {
    return;
  }
  ga_log_fill_traced_ = fill;
  trace_.Counter(pid_, loop_.now(), "GA log fill", fill);
}

void X86Host::HandlerDone(int cpu, uint8_t vector) {
  if (vector == posting_->GaLogVector() && trace_.enabled()) TraceGaLogFill();
  CheckStranded(vector == posting_->GaLogVector()     ? "the GA log handler"
                : vector == posting_->PostedVector()  ? "a notification handler"
                                                      : "a wakeup-vector handler");
  (void)cpu;
}

}  // namespace host_sim
