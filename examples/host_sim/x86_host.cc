// SPDX-License-Identifier: MIT
// The x86 host's setup and its scheduler: which exit calls which irqvirt entry point.
#include "examples/host_sim/x86_host.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {

using x86::kMeanGuestRun;
using x86::kSlice;

X86Host::X86Host(const SimOptions& options, EventLoop& loop, X86Mode mode,
                 bool rescan_after_overflow, bool baseline, Trace& trace)
    : options_(options),
      loop_(loop),
      mode_(mode),
      rescan_after_overflow_(rescan_after_overflow),
      baseline_(baseline),
      trace_(trace),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      total_vcpus_(options.vms * options.vcpus),
      platform_(options.pcpus, static_cast<uint32_t>(options.vms * options.vcpus), loop),
      vcpus_(total_vcpus_),
      pcpus_(options.pcpus),
      vms_(options.vms),
      guest_rng_(RandomStream(options.seed, 0x86, 1)),
      wakeup_irqs_per_cpu_(options.pcpus, 0) {
  platform_.set_listener(this);
}

X86Host::~X86Host() {
  // Teardown in the embedder's order: irqvirt unregisters its vectors before memory goes.
  posting_.reset();
}

namespace {

// Each x86 host's name (reports, traces) and key suffix (report keys, trace filter).
struct HostNames {
  const char* name;
  const char* key;
};
HostNames NamesOf(X86Mode mode, bool baseline) {
  if (baseline) return {"x86 KVM baseline", "_baseline"};
  switch (mode) {
    case X86Mode::kGaLog:
      return {"x86 GA log", "_galog"};
    case X86Mode::kGappi:
      return {"x86 GAPPI", "_gappi"};
    case X86Mode::kVtd:
      return {"x86 VT-d", "_vtd"};
  }
  return {"x86", ""};
}

}  // namespace

std::string X86Host::Name() const { return NamesOf(mode_, baseline_).name; }
std::string X86Host::Key() const { return NamesOf(mode_, baseline_).key; }

void X86Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back(Name() + ": " + std::move(what));
  if (options_.stop_at_first_failure) loop_.Stop();
}

absl::Status X86Host::Init() {
  posting_ = mode_ == X86Mode::kVtd ? MakeVtdPosting()
                                     : MakeAmdPosting(mode_, rescan_after_overflow_);
  if (absl::Status s = posting_->Init(platform_, *this, static_cast<uint32_t>(total_vcpus_));
      !s.ok()) {
    return s;
  }

  pid_ = trace_.Process("x86" + Key(), Name());
  for (int c = 0; c < options_.pcpus; ++c) {
    pcpus_[c].track = trace_.Track(pid_, 1 + c, absl::StrFormat("pCPU %d", c));
  }
  iommu_track_ = trace_.Track(pid_, 50, mode_ == X86Mode::kVtd ? "VT-d unit" : "AMD IOMMU");

  // vCPUs: a vAPIC page each, in memory the IOMMU reaches.
  for (int g = 0; g < total_vcpus_; ++g) {
    Vcpu& v = vcpus_[g];
    v.vm = g / options_.vcpus;
    v.index = g % options_.vcpus;
    v.cpu = g % options_.pcpus;
    auto page = posting_->AddVcpu(g, v.vm, v.index, v.cpu);
    if (!page.ok()) return page.status();
    v.page = *page;
    v.track = trace_.Track(pid_, 100 + 2 * g, absl::StrFormat("vCPU %d (VM %d)", g, v.vm), v.vm);
    v.irq_track = trace_.Track(pid_, 101 + 2 * g, absl::StrFormat("vCPU %d guest IRQs", g), v.vm);
  }

  // Assigned devices: 4 IRTEs (queues) each, bound to the vCPUs of the device's VM.
  for (int d = 0; d < options_.devices; ++d) {
    const uint16_t device_id = static_cast<uint16_t>(d);  // requester IDs 0..255
    if (absl::Status s = posting_->AttachDevice(device_id); !s.ok()) return s;
    const int vm = d % options_.vms;
    device_tracks_.push_back(
        trace_.Track(pid_, 1000 + d, absl::StrFormat("device %d (VM %d)", d, vm), vm));
    for (int k = 0; k < x86::kIrtesPerDevice; ++k) {
      Irte irte{device_id, static_cast<uint16_t>(k), vm,
                Gid(vm, (d / options_.vms + k) % options_.vcpus),
                static_cast<uint8_t>(x86::kFirstMsiVector + (d * x86::kIrtesPerDevice + k) % 16)};
      if (absl::Status s = posting_->Bind(irte.device_id, irte.index, irte.owner, irte.vector);
          !s.ok()) {
        return s;
      }
      irtes_.push_back(irte);
    }
  }

  // One I/O APIC per VM over its vCPUs' vAPIC pages; rescans run before guest entry, as KVM's
  // KVM_REQ_SCAN_IOAPIC does, so the EOI-exit bitmap is refreshed in one place.
  for (int vm = 0; vm < options_.vms; ++vm) {
    std::vector<uint8_t*> pages;
    for (int i = 0; i < options_.vcpus; ++i) {
      pages.push_back(static_cast<uint8_t*>(vcpus_[Gid(vm, i)].page.va));
    }
    Vm& m = vms_[vm];
    m.lapics = std::make_unique<VapicLapics>(std::move(pages), [this, vm](int index) {
      InterruptArrived(Gid(vm, index), /*host_kick=*/true);
    });
    irqvirt::ioapic::IoapicOptions io;
    io.num_pins = 24;
    io.version = 0x20;
    io.rescan_immediately = false;
    io.storm_threshold = x86::kStormThreshold;
    io.storm_delay_ns = x86::kStormDelay;
    m.storm_timer = std::make_unique<EventTimer>(loop_);
    auto ioapic = irqvirt::ioapic::Ioapic::Create(*m.lapics, *m.storm_timer, io);
    if (!ioapic.ok()) return ioapic.status();
    m.ioapic = std::move(*ioapic);
    m.storm_timer->set_callback([this, vm] {
      trace_.Instant(vms_[vm].track, loop_.now(), "storm guard: re-deliver");
      vms_[vm].ioapic->OnStormTimer();
    });
    m.track = trace_.Track(pid_, 60 + vm, absl::StrFormat("VM %d I/O APIC", vm), vm);
    m.lines.resize(x86::kLinesPerVm);
    // The guest's boot-time programming: level, active high, fixed, physical destination.
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
      m.lines[l].track =
          trace_.Track(pid_, 2000 + vm * 16 + l,
                       absl::StrFormat("VM %d INTx pin %d", vm, x86::kFirstLinePin + l), vm);
      const auto rte = hw::x86::IoapicRedirectionEntry()
                           .set_vector(x86::kFirstLineVector + l)
                           .set_trigger_mode(1)
                           .set_destination(static_cast<uint64_t>(l % options_.vcpus));
      const int pin = x86::kFirstLinePin + l;
      IoapicWrite(vm, static_cast<uint8_t>(0x11 + 2 * pin), static_cast<uint32_t>(rte.raw() >> 32));
      IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin), static_cast<uint32_t>(rte.raw()));
    }
    mmio_exits_ = 0;  // boot-time programming is not part of the run
  }
  return absl::OkStatus();
}

void X86Host::IoapicWrite(int vm, uint8_t sel, uint32_t value) {
  // Two MMIO exits: IOREGSEL, then IOWIN, as a guest's dword accesses.
  irqvirt::ioapic::Ioapic& io = *vms_[vm].ioapic;
  io.MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
  io.MmioWrite(hw::x86::kIoapicWindow, 4, value);
  mmio_exits_ += 2;
}

uint32_t X86Host::IoapicRead(int vm, uint8_t sel) {
  irqvirt::ioapic::Ioapic& io = *vms_[vm].ioapic;
  io.MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
  mmio_exits_ += 2;
  return static_cast<uint32_t>(io.MmioRead(hw::x86::kIoapicWindow, 4));
}

hw::x86::IoapicRedirectionEntry X86Host::GuestReadRte(int vm, int pin) {
  const uint64_t lo = IoapicRead(vm, static_cast<uint8_t>(0x10 + 2 * pin));
  const uint64_t hi = IoapicRead(vm, static_cast<uint8_t>(0x11 + 2 * pin));
  return hw::x86::IoapicRedirectionEntry::FromRaw(lo | (hi << 32));
}

void X86Host::CpuOffline(int cpu) {
  int online = 0, other = -1;
  for (int c = 0; c < options_.pcpus; ++c) {
    if (!pcpus_[c].online) continue;
    ++online;
    if (c != cpu && other < 0) other = c;
  }
  if (online <= 2 || other < 0) return;  // keep two CPUs: the GA log interrupt needs a home
  platform_.SetCurrentCpu(cpu);
  // GA log mode: the CPU that takes the GA log interrupt hands it over first, both online.
  absl::StatusOr<bool> moved_log = posting_->MoveAwayFrom(cpu, other);
  if (!moved_log.ok()) {
    Failure("RetargetGaLogInterrupt: " + std::string(moved_log.status().message()));
    return;
  }
  if (*moved_log) {
    ++ga_log_retargets_;
    trace_.Instant(pcpus_[other].track, loop_.now(), "GA log interrupt moved here");
  }
  // GAPPI and VT-d: vCPUs parked on this CPU move, and their IRTEs or descriptors with them.
  auto moved = posting_->OfflineCpu(cpu);
  if (!moved.ok()) {
    Failure("OfflineCpu: " + std::string(moved.status().message()));
    return;
  }
  // The CPU takes what was sent to it before it stops taking interrupts.
  while (!pcpus_[cpu].inflight.empty()) ArriveAt(cpu);
  platform_.HandleDeferredNow(cpu);
  platform_.SetOnline(cpu, false);
  trace_.Instant(pcpus_[cpu].track, loop_.now(),
                 absl::StrFormat("CPU offline (%u parked vCPUs moved)", *moved));
  Pcpu& p = pcpus_[cpu];
  p.online = false;
  ++offlines_;
  ++p.slice_epoch;
  std::deque<int> evicted;
  evicted.swap(p.runqueue);
  if (p.running >= 0) {
    const int g = p.running;
    StopRunning(g);
    evicted.push_front(g);
  }
  for (int g : evicted) {
    ++migrations_;
    Enqueue(g, LeastLoadedCpu(-1));
  }
  CheckStranded("OfflineCpu");
}

void X86Host::CpuOnline(int cpu) {
  if (pcpus_[cpu].online) return;
  platform_.SetOnline(cpu, true);
  if (absl::Status s = posting_->OnlineCpu(cpu); !s.ok()) {
    Failure("OnlineCpu: " + std::string(s.message()));
  }
  pcpus_[cpu].online = true;
  trace_.Instant(pcpus_[cpu].track, loop_.now(), "CPU online");
}

// ------------------------------------------------------------------------------------------
// The scheduler.

int X86Host::LeastLoadedCpu(int preferred) const {
  int best = -1;
  size_t best_load = SIZE_MAX;
  for (int c = 0; c < options_.pcpus; ++c) {
    if (!pcpus_[c].online) continue;
    const size_t load = pcpus_[c].runqueue.size() + (pcpus_[c].running >= 0 ? 1 : 0);
    if (load < best_load || (load == best_load && c == preferred)) {
      best = c;
      best_load = load;
    }
  }
  return best;
}

void X86Host::ChargeCommands(int cpu, uint64_t commands_before, const char* what) {
  const uint64_t n = posting_->CommandsExecuted() - commands_before;
  if (n == 0) return;
  const cost::Ns ns = static_cast<cost::Ns>(n) * cost::kIommuCommand;
  const cost::Ns start = platform_.Charge(cpu, ns);
  trace_.Slice(pcpus_[cpu].track, start, start + ns,
               absl::StrFormat("IOMMU: %u commands (%s)", n, what), TraceCat::kHost);
}

void X86Host::SetState(int g, State s) {
  Vcpu& v = vcpus_[g];
  if (trace_.enabled() && loop_.now() > v.state_since) {
    // Names 0..P-1: running on that pCPU; then runnable, HLT exit, blocked.
    const int p = options_.pcpus;
    const size_t which = v.state == State::kRunning    ? static_cast<size_t>(v.cpu)
                         : v.state == State::kRunnable ? p
                         : v.state == State::kHalting  ? p + 1
                                                       : p + 2;
    const int name = run_names_.Get(trace_, which, [&]() -> std::string {
      if (which < static_cast<size_t>(p)) return absl::StrFormat("run on pCPU %d", v.cpu);
      return which == static_cast<size_t>(p) ? "runnable" : which == static_cast<size_t>(p) + 1 ? "HLT exit" : "blocked";
    });
    trace_.Slice(v.track, v.state_since, loop_.now(), name, TraceCat::kGuest);
  }
  v.state = s;
  v.state_since = loop_.now();
}

void X86Host::Enqueue(int g, int cpu) {
  Vcpu& v = vcpus_[g];
  SetState(g, State::kRunnable);
  v.cpu = cpu;
  pcpus_[cpu].runqueue.push_back(g);
  Dispatch(cpu);
}

void X86Host::Dispatch(int cpu) {
  Pcpu& p = pcpus_[cpu];
  if (!p.online || p.running >= 0 || p.runqueue.empty()) return;
  const int g = p.runqueue.front();
  p.runqueue.pop_front();
  RunOn(g, cpu);
}

void X86Host::RunOn(int g, int cpu) {
  Vcpu& v = vcpus_[g];
  Pcpu& p = pcpus_[cpu];
  platform_.SetCurrentCpu(cpu);
  const uint64_t commands = posting_->CommandsExecuted();
  if (irqvirt::posted::RouteError e = posting_->Load(g, cpu); !e.ok()) {
    Failure("Load: " + std::string(e.ToStatus().message()));
  }
  ChargeCommands(cpu, commands, "Load");
  v.blocked_in_router = false;
  // VT-d: before entry, what was posted while the vCPU was out moves into its vAPIC page.
  if (posting_->PendingOutsidePage(g)) posting_->SyncPirToIrr(g);
  v.cpu = cpu;
  SetState(g, State::kRunning);
  v.kicked_while_halting = false;
  ++v.epoch;
  p.running = g;
  stories_.Add(static_cast<uint64_t>(g), loop_.now(), "runs on pCPU %lld", cpu);
  if (v.pending_since >= 0) {
    wake_latency_.Add(loop_.now() - v.pending_since);
    if (!v.stranded) ++wakes_met_;
    v.pending_since = -1;
  }
  v.stranded = false;
  const uint64_t epoch = v.epoch;
  if (!v.wants_halt) {
    const cost::Ns run = Exponential(guest_rng_, 1e6 / static_cast<double>(kMeanGuestRun));
    loop_.After(run, [this, g, epoch] { HaltTimer(g, epoch); });
  }
  const uint64_t slice = ++p.slice_epoch;
  p.preempt_due = false;
  loop_.After(kSlice, [this, cpu, slice] { Preempt(cpu, slice); });
  if (v.handler_vector >= 0) {
    // The guest's handler goes on where the preemption stopped it.
    const uint64_t he = ++v.handler_epoch;
    v.handler_deadline = loop_.now() + v.handler_left;
    loop_.After(v.handler_left, [this, g, he] { HandlerEnd(g, he); });
  } else {
    GuestTakeNext(g);  // VM entry: the CPU evaluates the vAPIC page's IRR
  }
}

// The vCPU leaves its pCPU without blocking (preemption, CPU offline): Put, and the guest's
// handler, if one runs, waits for the next run.
void X86Host::StopRunning(int g) {
  Vcpu& v = vcpus_[g];
  Pcpu& p = pcpus_[v.cpu];
  p.running = -1;
  platform_.SetCurrentCpu(v.cpu);
  posting_->Put(g);
  ++v.epoch;
  if (v.handler_vector >= 0) {
    ++v.handler_epoch;
    v.handler_left = std::max<cost::Ns>(1, v.handler_deadline - loop_.now());
    ++handlers_preempted_;
  }
  stories_.Add(static_cast<uint64_t>(g), loop_.now(), "leaves pCPU %lld (Put)", v.cpu);
}

void X86Host::Preempt(int cpu, uint64_t slice) {
  Pcpu& p = pcpus_[cpu];
  if (p.slice_epoch != slice || p.running < 0) return;
  const int g = p.running;
  if (p.runqueue.empty()) {
    const uint64_t next = ++p.slice_epoch;
    loop_.After(kSlice, [this, cpu, next] { Preempt(cpu, next); });
    return;
  }
  if (vcpus_[g].state != State::kRunning) {
    p.preempt_due = true;  // in its HLT exit: decided when Block returns
    return;
  }
  p.preempt_due = false;
  StopRunning(g);
  ++preemptions_;
  // Load balancing: a preempted vCPU goes to the least loaded CPU, which migrates it.
  const int target = LeastLoadedCpu(cpu);
  if (target != cpu) ++migrations_;
  Dispatch(cpu);
  Enqueue(g, target);
}

// The guest has run out of work: it halts once it has taken everything pending.
void X86Host::HaltTimer(int g, uint64_t epoch) {
  Vcpu& v = vcpus_[g];
  if (v.state != State::kRunning || v.epoch != epoch) return;
  v.wants_halt = true;
  if (v.handler_vector < 0) GuestTakeNext(g);
}

// HLT: the guest found nothing in its IRR. The exit and the host's halt path take kHltExit on
// the pCPU before Block; the IOMMU still sees the vCPU running (IsRun = 1, or SN = 0 with the
// posted vector), so an interrupt in that window notifies a CPU that is not in the guest.
void X86Host::Halt(int g) {
  Vcpu& v = vcpus_[g];
  SetState(g, State::kHalting);
  ++halts_;
  stories_.Add(static_cast<uint64_t>(g), loop_.now(), "HLT on pCPU %lld", v.cpu);
  const cost::Ns start = platform_.Charge(v.cpu, cost::kHltExit);
  if (trace_.enabled()) {
    trace_.Slice(pcpus_[v.cpu].track, start, start + cost::kHltExit,
                 hlt_names_.Get(trace_, static_cast<size_t>(g),
                                [&] { return absl::StrFormat("HLT exit vCPU %d", g); }),
                 TraceCat::kHost);
  }
  const uint64_t epoch = ++v.epoch;
  loop_.At(start + cost::kHltExit, [this, g, epoch] { BlockAfterHltExit(g, epoch); });
}

void X86Host::BlockAfterHltExit(int g, uint64_t epoch) {
  Vcpu& v = vcpus_[g];
  if (v.state != State::kHalting || v.epoch != epoch) return;
  const int cpu = v.cpu;
  platform_.SetCurrentCpu(cpu);
  const uint64_t commands = posting_->CommandsExecuted();
  const irqvirt::posted::BlockOutcome b = posting_->Block(g, cpu);
  ChargeCommands(cpu, commands, "Block");
  if (b.decision == irqvirt::wakeup::BlockDecision::kSleep) {
    v.blocked_in_router = true;
    SetState(g, State::kBlocked);
    ++v.epoch;
    v.wants_halt = false;
    pcpus_[cpu].running = -1;
    stories_.Add(static_cast<uint64_t>(g), loop_.now(),
                 "Block on pCPU %lld: sleep (interrupt pending: %lld, parked on pCPU %lld)", cpu,
                 HasPending(g) ? 1 : 0, posting_->ParkedCpu(g));
    if (HasPending(g) && v.pending_since < 0) {
      v.pending_since = loop_.now();
      ++wakes_needed_;
    }
    if (v.kicked_while_halting) {
      // The host delivered an I/O APIC interrupt during the HLT exit: its kick wakes it.
      v.kicked_while_halting = false;
      ++host_kicks_;
      v.wake_coming = true;
      loop_.After(0, [this, g] { Wake(g); });
    }
    CheckStranded("Block");
    pcpus_[cpu].preempt_due = false;
    Dispatch(cpu);
    return;
  }
  // An interrupt came in the window (or parking was refused): do not sleep, run on.
  if (!b.error.ok() && b.error.code != irqvirt::posted::RouteErrorCode::kNotParked) {
    Failure("Block: " + std::string(b.error.ToStatus().message()));
  }
  ++halt_aborts_;
  stories_.Add(static_cast<uint64_t>(g), loop_.now(), "Block on pCPU %lld: pending, runs on",
               cpu);
  posting_->Load(g, cpu);
  if (posting_->PendingOutsidePage(g)) posting_->SyncPirToIrr(g);
  SetState(g, State::kRunning);
  v.wants_halt = false;
  v.kicked_while_halting = false;
  const uint64_t next = ++v.epoch;
  loop_.After(Exponential(guest_rng_, 1e6 / static_cast<double>(kMeanGuestRun)),
              [this, g, next] { HaltTimer(g, next); });
  if (pcpus_[cpu].preempt_due) {
    Preempt(cpu, pcpus_[cpu].slice_epoch);  // its slice ended during the exit
    return;
  }
  GuestTakeNext(g);
}

void X86Host::Wake(int g) {
  Vcpu& v = vcpus_[g];
  v.wake_coming = false;
  if (v.state != State::kBlocked) {
    ++redundant_wakes_;  // already runnable: several GA log entries for one vCPU, for example
    return;
  }
  ++wakes_;
  if (!HasPending(g)) ++spurious_wakeups_;
  stories_.Add(static_cast<uint64_t>(g), loop_.now(), "woken");
  const int cpu = LeastLoadedCpu(v.cpu);
  if (cpu != v.cpu) ++migrations_;
  Enqueue(g, cpu);
}

}  // namespace host_sim
