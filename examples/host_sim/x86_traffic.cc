// SPDX-License-Identifier: MIT
// The world around the x86 host: assigned devices fire MSIs (with storms), devices hold level
// lines (with bursts of work), guests re-route I/O APIC lines and change MSI affinity, and CPUs
// are unplugged. Each source draws from its own random stream, so every x86 host of a run (and
// the baseline) sees exactly the same traffic.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {

std::mt19937_64& X86Host::NewStream(uint64_t stream) {
  // The RNG lives as long as the host: the stream's pending events refer to it.
  streams_keepalive_.push_back(
      std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0x86, stream)));
  return *streams_keepalive_.back();
}

void X86Host::Start() {
  for (int g = 0; g < total_vcpus_; ++g) Enqueue(g, vcpus_[g].cpu);
  for (int d = 0; d < options_.devices; ++d) NextMsi(d, NewStream((uint64_t{1} << 32) + d), 0);
  NextStorm(NewStream(2), 0);
  for (int vm = 0; vm < options_.vms; ++vm) {
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
      NextLineWork(vm, l, NewStream((uint64_t{2} << 32) + vm * 16 + l), 0);
    }
    NextReroute(vm, NewStream((uint64_t{3} << 32) + vm), 0);
  }
  NextAffinityChange(NewStream(3), 0);
  NextHotplug(NewStream(4), 0);
  for (int c = 0; c < options_.pcpus; ++c) NextIrqsOff(c, NewStream((uint64_t{4} << 32) + c), 0);
  loop_.After(0, [this] { Watchdog(); });
}

void X86Host::NextMsi(int device, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.msi_rate);
  if (t >= end_of_traffic_) return;
  const size_t irte =
      static_cast<size_t>(device * x86::kIrtesPerDevice) + rng() % x86::kIrtesPerDevice;
  loop_.At(t, [this, device, &rng, t, irte] {
    FireMsi(irte);
    NextMsi(device, rng, t);
  });
}

void X86Host::NextStorm(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.storm_rate);
  if (t >= end_of_traffic_) return;
  const int device = static_cast<int>(rng() % static_cast<uint64_t>(options_.devices));
  loop_.At(t, [this, &rng, t, device] {
    ++storms_;
    trace_.Instant(device_tracks_[static_cast<size_t>(device)], t, "MSI storm");
    // A storm: the device fires round-robin over its IRTEs at storm_per_us (one event at a
    // time: the next MSI is scheduled by the one before).
    const cost::Ns gap =
        std::max<cost::Ns>(1, static_cast<cost::Ns>(1000.0 / options_.storm_per_us));
    const cost::Ns end = std::min(t + options_.storm_len_us * cost::kUs, end_of_traffic_);
    StormMsi(device, 0, t, gap, end);
    NextStorm(rng, t);
  });
}

void X86Host::StormMsi(int device, int k, cost::Ns at, cost::Ns gap, cost::Ns end) {
  if (at >= end) return;
  loop_.At(at, [this, device, k, at, gap, end] {
    FireMsi(static_cast<size_t>(device * x86::kIrtesPerDevice + k % x86::kIrtesPerDevice));
    StormMsi(device, k + 1, at + gap, gap, end);
  });
}

void X86Host::FireMsi(size_t i) {
  const Irte& irte = irtes_[i];
  const cost::Ns now = loop_.now();
  const uint64_t flow = trace_.Raise(
      device_tracks_[irte.device_id], now,
      msi_names_.Get(trace_, irte.index, [&] { return absl::StrFormat("MSI %d", irte.index); }));
  const Posted p = posting_->Fire(irte.device_id, irte.index, irte.vector);
  if (p.how == Posted::How::kFault) {
    msi_ledger_.Refused();
    Failure(absl::StrFormat("MSI on IRTE %#x:%u not posted (%s)", irte.device_id, irte.index,
                            p.fault));
    return;
  }
  const int g = p.vcpu;
  Vcpu& v = vcpus_[g];
  msi_ledger_.Add(x86::MsiKey(g, irte.vector), p.held, now, flow);
  const uint64_t story = static_cast<uint64_t>(g);
  switch (p.how) {
    case Posted::How::kDoorbell:
      ++doorbells_;
      stories_.Add(story, now, "MSI %#llx posted, doorbell to pCPU %lld (already pending: %lld)",
                   irte.vector, p.cpu, p.held);
      break;
    case Posted::How::kNotify:
      ++notifications_;
      stories_.Add(story, now, "MSI %#llx posted, vector %#llx sent to pCPU %lld", irte.vector,
                   p.vector, p.cpu);
      break;
    case Posted::How::kGaLog:
      ++ga_log_posts_;
      stories_.Add(story, now, "MSI %#llx posted, GA log entry (already pending: %lld)",
                   irte.vector, p.held);
      break;
    case Posted::How::kGaLogDropped:
      ++ga_log_drops_;
      stories_.Add(story, now, "MSI %#llx posted, its GA log entry DROPPED (log full or stopped)",
                   irte.vector);
      if (trace_.enabled()) trace_.Instant(iommu_track_, now, "GA log overflow: entry dropped");
      break;
    case Posted::How::kQuiet:
      ++quiet_posts_;
      stories_.Add(story, now, "MSI %#llx posted, no notification (already pending: %lld)",
                   irte.vector, p.held);
      break;
    case Posted::How::kFault:
      break;
  }
  if (trace_.enabled()) {
    // Where it was posted: into this vCPU's vAPIC page (or PI descriptor), in the state its
    // track shows (running on a pCPU: the doorbell or notification went there; blocked: the GA
    // log or its wakeup queue, whose handler's slice is the next step).
    trace_.FlowStep(flow, v.track, now);
    if (mode_ == X86Mode::kGaLog) TraceGaLogFill();
  }
  CheckNotification(irte, p);
  if (v.state == State::kBlocked && v.pending_since < 0) {
    v.pending_since = now;
    ++wakes_needed_;
  }
}

void X86Host::NextLineWork(int vm, int line, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.line_rate);
  if (t >= end_of_traffic_) return;
  const bool burst = std::uniform_real_distribution<double>(0, 1)(rng) < x86::kLineBurstShare;
  loop_.At(t, [this, vm, line, &rng, t, burst] {
    LineWork(vm, line, burst ? x86::kLineBurstItems : 1);
    NextLineWork(vm, line, rng, t);
  });
}

// The device gets `items` of work; its INTx line is high while it has any.
void X86Host::LineWork(int vm, int line, uint64_t items) {
  Line& l = vms_[vm].lines[line];
  const uint64_t key = x86::LineKey(vm, line);
  if (items > 1) ++line_bursts_;
  uint64_t first_flow = 0;
  for (uint64_t i = 0; i < items; ++i) {
    const uint64_t flow =
        trace_.Raise(l.track, loop_.now(), trace_.enabled() ? trace_.Name("work") : -1);
    // The line is the pending state: a raise while it is high merges into it.
    line_ledger_.Add(key, l.work + i > 0, loop_.now(), flow);
    if (i == 0) first_flow = flow;
  }
  const bool was_high = l.work > 0;
  l.work += items;
  stories_.Add(0x10000 + key, loop_.now(), "device gets %lld items (line already high: %lld)",
               static_cast<long long>(items), was_high ? 1 : 0);
  if (!was_high) {
    if (trace_.enabled()) {
      const int name = pin_names_.Get(trace_, static_cast<size_t>(line), [&] {
        return absl::StrFormat("pin %d asserted", x86::kFirstLinePin + line);
      });
      const cost::Ns at = trace_.SerialSlice(vms_[vm].track, loop_.now(), cost::kPostLatency,
                                             name, TraceCat::kIommu);
      trace_.FlowStep(first_flow, vms_[vm].track, at);
    }
    SetLine(vm, line, true);
  }
}

void X86Host::SetLine(int vm, int line, bool level) {
  if (!vms_[vm].ioapic->SetIrq(x86::kFirstLinePin + line, level).ok()) {
    Failure("SetIrq refused a pin");
  }
  stories_.Add(0x10000 + x86::LineKey(vm, line), loop_.now(), "the device sets its line to %lld",
               level ? 1 : 0);
  if (level) CheckLines(vm);
}

void X86Host::NextReroute(int vm, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.reroute_rate);
  if (t >= end_of_traffic_) return;
  const int line = static_cast<int>(rng() % x86::kLinesPerVm);
  const int dest = static_cast<int>(rng() % static_cast<uint64_t>(options_.vcpus));
  loop_.At(t, [this, vm, line, dest, &rng, t] {
    GuestReroute(vm, line, dest);
    NextReroute(vm, rng, t);
  });
}

// The guest moves a line to another vCPU (irq affinity), as Linux does: mask, new destination
// in the high dword, then the low dword with the vector, unmasked. An interrupt of that line may
// be in flight on the old destination: its EOI must still reach the I/O APIC (stale EOI).
void X86Host::GuestReroute(int vm, int line, int dest) {
  // Only a running vCPU of the VM can program its I/O APIC.
  int writer = -1;
  for (int i = 0; i < options_.vcpus && writer < 0; ++i) {
    if (vcpus_[Gid(vm, i)].state == State::kRunning) writer = Gid(vm, i);
  }
  if (writer < 0) return;
  const uint64_t mmio_before = mmio_exits_;
  // The guest's balancer prefers a busy line: one whose Remote IRR says its interrupt is in
  // flight right now (the guest reads the RTEs through MMIO, as it would).
  hw::x86::IoapicRedirectionEntry rte;
  for (int l = 0; l < x86::kLinesPerVm; ++l) {
    rte = GuestReadRte(vm, x86::kFirstLinePin + l);
    if (rte.remote_irr() != 0) {
      line = l;
      break;
    }
  }
  const int pin = x86::kFirstLinePin + line;
  rte = GuestReadRte(vm, pin);
  const int old_dest = static_cast<int>(rte.destination());
  if (rte.remote_irr() != 0 ||
      Page(Gid(vm, old_dest)).Test(hw::x86::ApicVectorReg::kIrr, x86::kFirstLineVector + line)) {
    ++reroutes_in_flight_;
  }
  ++reroutes_;
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(1).raw()));
  IoapicWrite(vm, static_cast<uint8_t>(0x11 + 2 * pin),
              static_cast<uint32_t>(rte.set_destination(static_cast<uint64_t>(dest)).raw() >> 32));
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(0).raw()));
  const cost::Ns ns = static_cast<cost::Ns>(mmio_exits_ - mmio_before) * cost::kMmioExit;
  const int cpu = vcpus_[writer].cpu;
  const cost::Ns start = platform_.Charge(cpu, ns);
  if (trace_.enabled()) {
    trace_.Slice(pcpus_[cpu].track, start, start + ns,
                 absl::StrFormat("I/O APIC MMIO exits (%u)", mmio_exits_ - mmio_before),
                 TraceCat::kHost);
    trace_.Instant(vms_[vm].track, loop_.now(),
                   absl::StrFormat("re-route pin %d: vCPU %d -> %d", pin, old_dest, dest));
  }
  stories_.Add(0x10000 + x86::LineKey(vm, line), loop_.now(),
               "guest re-routes the line: vCPU index %lld -> %lld", old_dest, dest);
  CheckLines(vm);
}

// The guest changes an MSI's affinity: the router moves the IRTE to another vCPU of the VM.
void X86Host::NextAffinityChange(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, x86::kAffinityChangesPerMs);
  if (t >= end_of_traffic_ || irtes_.empty()) return;
  const size_t i = rng() % irtes_.size();
  const int index = static_cast<int>(rng() % static_cast<uint64_t>(options_.vcpus));
  loop_.At(t, [this, i, index, &rng, t] {
    Irte& irte = irtes_[i];
    const int to = Gid(irte.vm, index);
    if (to != irte.owner) {
      const uint64_t commands = posting_->CommandsExecuted();
      platform_.SetCurrentCpu(vcpus_[to].cpu);
      if (absl::Status s = posting_->Bind(irte.device_id, irte.index, to, irte.vector); s.ok()) {
        stories_.Add(static_cast<uint64_t>(irte.owner), loop_.now(),
                     "IRTE %#llx:%lld moves to vCPU %lld", irte.device_id, irte.index, to);
        irte.owner = to;
        ++affinity_changes_;
        trace_.Instant(iommu_track_, loop_.now(),
                       absl::StrFormat("IRTE %d:%d -> vCPU %d", irte.device_id, irte.index, to));
      } else {
        Failure("Bind: " + std::string(s.message()));
      }
      ChargeCommands(vcpus_[to].cpu, commands, "Bind");
    }
    NextAffinityChange(rng, t);
  });
}

// Host work with interrupts off on `cpu`: interrupts for it wait until it is done.
void X86Host::NextIrqsOff(int cpu, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, x86::kIrqsOffPerMs);
  if (t >= end_of_traffic_) return;
  const cost::Ns length = std::uniform_int_distribution<cost::Ns>(x86::kIrqsOffMin,
                                                                  x86::kIrqsOffMax)(rng);
  loop_.At(t, [this, cpu, &rng, t, length] {
    if (pcpus_[cpu].online) {
      const cost::Ns start = platform_.Charge(cpu, length);
      ++irqs_off_sections_;
      trace_.Slice(pcpus_[cpu].track, start, start + length, "host work, interrupts off",
                   TraceCat::kHost);
    }
    NextIrqsOff(cpu, rng, t);
  });
}

// CPU hot-unplug and replug.
void X86Host::NextHotplug(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, x86::kHotplugPerMs);
  if (t >= end_of_traffic_ || options_.pcpus < 3) return;
  const int cpu = static_cast<int>(rng() % static_cast<uint64_t>(options_.pcpus));
  loop_.At(t, [this, cpu, &rng, t] {
    if (pcpus_[cpu].online) {
      CpuOffline(cpu);
      loop_.After(x86::kOfflineFor, [this, cpu] { CpuOnline(cpu); });
    }
    NextHotplug(rng, t);
  });
}

}  // namespace host_sim
