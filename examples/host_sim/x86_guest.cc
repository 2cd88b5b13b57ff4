// SPDX-License-Identifier: MIT
// The x86 guests and what reaches them: a guest takes one interrupt at a time from its vAPIC
// page (acknowledge, handler, EOI); doorbells and notifications reach whichever vCPU is in the
// guest on the pCPU the IOMMU named, and nothing else.
#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"

namespace host_sim {

void X86Host::ScheduleTake(int g, cost::Ns delay) {
  Vcpu& v = vcpus_[g];
  if (v.take_scheduled) return;
  v.take_scheduled = true;
  loop_.After(delay, [this, g] {
    vcpus_[g].take_scheduled = false;
    GuestTakeNext(g);
  });
}

// The guest, with interrupts enabled and no handler running, takes the highest vector in its
// IRR; with nothing pending and its work done, it halts.
void X86Host::GuestTakeNext(int g) {
  Vcpu& v = vcpus_[g];
  if (v.state != State::kRunning || v.handler_vector >= 0) return;
  irqvirt::ioapic::Ioapic& io = *vms_[v.vm].ioapic;
  if (io.RescanPending(v.index)) {
    io.ProcessPendingRescans(v.index);
    ++rescans_processed_;
  }
  v.eoi_exit_bitmap = io.HandledVectors(v.index);
  const hw::x86::VapicPage page = Page(g);
  const int highest = page.Highest(hw::x86::ApicVectorReg::kIrr);
  if (highest < 0) {
    if (v.wants_halt) Halt(g);
    return;
  }
  const uint8_t vector = static_cast<uint8_t>(highest);
  page.Clear(hw::x86::ApicVectorReg::kIrr, vector);
  page.Set(hw::x86::ApicVectorReg::kIsr, vector);
  v.handler_vector = vector;
  v.handler_start = loop_.now();
  v.handler_deadline = loop_.now() + cost::kGuestIrqHandler;
  const uint64_t he = ++v.handler_epoch;
  loop_.After(cost::kGuestIrqHandler, [this, g, he] { HandlerEnd(g, he); });
  const bool line = vector >= x86::kFirstLineVector &&
                    vector < x86::kFirstLineVector + x86::kLinesPerVm;
  if (!line) {
    // The handler consumes the pending state the IRR bit held: one obligation.
    msi_ledger_.DeliverObligation(x86::MsiKey(g, vector), loop_.now(),
                                  [&](const InterruptLedger::Raise& r) {
                                    trace_.FlowEnd(r.flow, v.irq_track, v.handler_start);
                                  });
  }
}

void X86Host::HandlerEnd(int g, uint64_t epoch) {
  Vcpu& v = vcpus_[g];
  if (v.handler_epoch != epoch || v.state != State::kRunning || v.handler_vector < 0) return;
  const uint8_t vector = static_cast<uint8_t>(v.handler_vector);
  Vm& m = vms_[v.vm];
  irqvirt::ioapic::Ioapic& io = *m.ioapic;
  if (trace_.enabled()) {
    trace_.Slice(v.irq_track, v.handler_start, loop_.now(),
                 irq_names_.Get(trace_, vector, [&] { return absl::StrFormat("IRQ %#x", vector); }),
                 TraceCat::kGuestIrq);
  }
  if (vector >= x86::kFirstLineVector && vector < x86::kFirstLineVector + x86::kLinesPerVm) {
    // The driver services the device: some of its work items; while it has more, its line
    // stays high through the EOI.
    const int l = vector - x86::kFirstLineVector;
    Line& line = m.lines[l];
    const uint64_t n = std::min<uint64_t>(line.work, x86::kLineItemsPerInterrupt);
    line.work -= n;
    const cost::Ns start = v.handler_start;
    line_ledger_.DeliverRaises(x86::LineKey(v.vm, l), n, loop_.now(),
                               [&](const InterruptLedger::Raise& r) {
                                 trace_.FlowEnd(r.flow, v.irq_track, start);
                               });
    stories_.Add(0x10000 + x86::LineKey(v.vm, l), loop_.now(),
                 "vCPU %lld serviced %lld item(s), %lld left", g, static_cast<long long>(n),
                 static_cast<long long>(line.work));
    if (line.work == 0) {
      SetLine(v.vm, l, false);
    } else {
      ++lines_high_at_eoi_;
    }
  }
  // EOI.
  const hw::x86::VapicPage page = Page(g);
  page.Clear(hw::x86::ApicVectorReg::kIsr, vector);
  v.handler_vector = -1;
  const bool level = page.Test(hw::x86::ApicVectorReg::kTmr, vector);
  if (v.eoi_exit_bitmap.test(vector)) {
    ++eoi_exits_;
    auto stale = io.HighestStalePendingEoi(v.index);
    if (stale.ok() && *stale == vector) ++stale_eoi_rescans_;
    const cost::Ns start = platform_.Charge(v.cpu, cost::kEoiExit);
    if (trace_.enabled()) {
      trace_.Slice(pcpus_[v.cpu].track, start, start + cost::kEoiExit,
                   eoi_names_.Get(trace_, vector,
                                  [&] { return absl::StrFormat("EOI exit %#x", vector); }),
                   TraceCat::kHost);
    }
    io.OnLapicEoi(v.index, vector, level);
    if (vector >= x86::kFirstLineVector && vector < x86::kFirstLineVector + x86::kLinesPerVm) {
      CheckLines(v.vm);
    }
  }
  GuestTakeNext(g);
}

// An I/O APIC interrupt is in vCPU g's IRR (the host delivered it).
void X86Host::InterruptArrived(int g, bool host_kick) {
  Vcpu& v = vcpus_[g];
  switch (v.state) {
    case State::kRunning:
      // The host's self-IPI (or posted interrupt) to a running vCPU.
      ScheduleTake(g, cost::kGuestAckLatency);
      break;
    case State::kHalting:
      if (host_kick) v.kicked_while_halting = true;  // Block finds it, or the kick wakes it
      break;
    case State::kBlocked:
      if (v.pending_since < 0) {
        v.pending_since = loop_.now();
        ++wakes_needed_;
      }
      if (host_kick && !v.wake_coming) {
        ++host_kicks_;
        v.wake_coming = true;
        stories_.Add(static_cast<uint64_t>(g), loop_.now(), "host kick (I/O APIC)");
        loop_.After(0, [this, g] { Wake(g); });
      }
      break;
    case State::kRunnable:
      break;  // taken when it next runs
  }
}

// An AVIC doorbell reached `cpu`: the vCPU in the guest there, if any, evaluates its IRR. A
// doorbell to a CPU that is not in the guest does nothing.
void X86Host::Doorbell(int cpu) {
  const int g = pcpus_[cpu].running;
  if (g < 0 || vcpus_[g].state != State::kRunning) {
    ++hlt_window_doorbells_;
    return;
  }
  ScheduleTake(g, cost::kGuestAckLatency);
}

// What the IOMMU sends arrives kPostLatency later (message delivery), after the host recorded
// the post.
void X86Host::RingDoorbell(uint32_t apic_id) {
  const int cpu = platform_.CpuOfApicId(apic_id);
  if (cpu < 0) {
    Failure(absl::StrFormat("a doorbell to APIC ID %#x, which no CPU has", apic_id));
    return;
  }
  ++doorbells_;
  loop_.After(cost::kPostLatency, [this, cpu] { Doorbell(cpu); });
}

void X86Host::SendInterrupt(uint32_t apic_id, uint8_t vector) {
  const int cpu = platform_.CpuOfApicId(apic_id);
  if (cpu < 0) {
    Failure(absl::StrFormat("vector %#x sent to APIC ID %#x, which no CPU has", vector, apic_id));
    return;
  }
  pcpus_[cpu].inflight.push_back(vector);
  loop_.After(cost::kPostLatency, [this, cpu] {
    if (!pcpus_[cpu].inflight.empty()) ArriveAt(cpu);
  });
}

// The oldest message in flight to `cpu` arrives.
void X86Host::ArriveAt(int cpu) {
  const uint8_t vector = pcpus_[cpu].inflight.front();
  pcpus_[cpu].inflight.pop_front();
  const uint8_t posted = posting_->PostedVector();
  const int g = pcpus_[cpu].running;
  if (posted != 0 && vector == posted && g >= 0 && vcpus_[g].state == State::kRunning) {
    // VT-d: a notification reaching a CPU in the guest is the CPU's posted-interrupt processing
    // for the vCPU that runs there (whoever it is): its PIR moves into its IRR.
    posting_->SyncPirToIrr(g);
    ScheduleTake(g, cost::kGuestAckLatency);
    return;
  }
  platform_.RaiseInterrupt(cpu, vector);
}

}  // namespace host_sim
