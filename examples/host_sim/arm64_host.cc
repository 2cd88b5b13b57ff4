// SPDX-License-Identifier: MIT
#include "examples/host_sim/arm64_host.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "hw/arm/gicv3_regs.h"

namespace host_sim {
namespace {

constexpr uint32_t kNumSpis = 64;  // INTIDs 32..95
constexpr uint32_t kFirstSpi = 32;
constexpr uint32_t kFirstLevelSpi = 80;  // 80..83 resampled, 84..87 plain level; 32..79 edge
constexpr uint32_t kLevelSpis = 8;
constexpr uint32_t kResampledSpis = 4;
constexpr int kMaxBackToBackExits = 64;
constexpr cost::Ns kHandlerTime = 8 * cost::kUs;     // a guest handler's run time
constexpr cost::Ns kIdleBeforeWfi = 20 * cost::kUs;  // guest work between interrupts and WFI
constexpr cost::Ns kAckSlice = 10;                   // the trace: an acknowledge's slice
constexpr cost::Ns kWatchdogPeriod = 25 * cost::kUs;
constexpr uint8_t kPriorityBits = 0xf8;  // the fake CPU interface's 5 priority bits

}  // namespace

Arm64Host::Vcpu::Vcpu(Arm64Host& h, uint32_t vcpu_id, int lrs)
    : host(h),
      id(vcpu_id),
      cpu({.num_list_registers = lrs, .tdir_supported = true}, &h.physical_),
      backend(cpu),
      guest(cpu, *this) {}

// The guest's DIR trapped: exit, fold, handle the trap, re-enter.
void Arm64Host::Vcpu::DirTrapped(uint32_t value) {
  host.Exit(*this);
  if (absl::Status s = host.vgic_->HandleDirTrap(id, value); !s.ok()) {
    host.Failure("HandleDirTrap: " + std::string(s.message()));
  }
  host.Charge(*this, cost::kDirTrap,
              host.trace_.enabled()
                  ? host.trace_.Name(absl::StrFormat("DIR trap (INTID %u)", value))
                  : -1);
  host.Enter(*this);
}

// The simulated CPU has TDIR and traps no group register, so no other ICV_* access exits; a CPU
// without TDIR, or with trap_all_cpu_interface_accesses, would save, call
// EmulateCpuInterfaceAccess, fold and re-enter here.
uint64_t Arm64Host::Vcpu::SysRegTrapped(hw::arm::SysRegEncoding, bool, uint64_t) {
  host.Failure("an ICV_* access trapped on a CPU that traps none");
  return 0;
}

void Arm64Host::Vcpu::AfterGuestOperation() { host.ServiceExits(*this); }

Arm64Host::Arm64Host(const SimOptions& options, EventLoop& loop, Trace& trace)
    : options_(options),
      loop_(loop),
      trace_(trace),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      platform_(options.vcpus, static_cast<uint32_t>(options.vcpus)) {}

void Arm64Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back("arm64 GICv3: " + std::move(what));
  if (options_.stop_at_first_failure) loop_.Stop();
}

bool Arm64Host::IsLevel(uint32_t intid) const {
  return intid >= kFirstLevelSpi && intid < kFirstLevelSpi + kLevelSpis;
}
bool Arm64Host::IsResampled(uint32_t intid) const {
  return intid >= kFirstLevelSpi && intid < kFirstLevelSpi + kResampledSpis;
}
uint32_t Arm64Host::TargetOf(uint32_t intid) const {
  return (intid - kFirstSpi) % static_cast<uint32_t>(options_.vcpus);
}

absl::Status Arm64Host::Init() {
  const uint32_t n = static_cast<uint32_t>(options_.vcpus);
  pid_ = trace_.Process("arm64_gicv3", "arm64 GICv3 VM");
  for (uint32_t i = 0; i < n; ++i) {
    vcpus_.push_back(std::make_unique<Vcpu>(*this, i, options_.lrs));
    Vcpu& v = *vcpus_.back();
    v.host_track = trace_.Track(pid_, 1 + static_cast<int>(i), absl::StrFormat("pCPU %u", i), 0);
    v.track = trace_.Track(pid_, 100 + 2 * static_cast<int>(i), absl::StrFormat("vCPU %u", i), 0);
    v.irq_track =
        trace_.Track(pid_, 101 + 2 * static_cast<int>(i), absl::StrFormat("vCPU %u guest IRQs", i), 0);
  }
  device_track_ = trace_.Track(pid_, 1000, "SPI devices", 0);
  irqvirt::vgic::VgicOptions o;
  o.num_vcpus = n;
  o.num_spis = kNumSpis;
  o.num_list_registers = vcpus_[0]->backend.features().num_list_registers;
  o.can_trap_dir = vcpus_[0]->backend.features().can_trap_dir;
  o.physical_gic = &physical_;
  o.kick = &Arm64Host::Kick;
  o.kick_context = this;
  auto vgic = Vgic::Create(platform_, o);
  if (!vgic.ok()) return vgic.status();
  vgic_ = std::move(*vgic);
  // Each guest's CPU interface setup (ICH_VMCR as the guest leaves it): group 1 on, priority
  // mask open, EOImode 0 on even vCPUs and 1 on odd ones.
  for (auto& v : vcpus_) {
    v->eoi_mode_split = (v->id % 2) == 1;
    hw::arm::IchVmcr vmcr;
    vmcr.set_veng1(1).set_vpmr(0xf8).set_veoim(v->eoi_mode_split ? 1 : 0);
    v->state.vmcr = vmcr.raw();
  }
  // SPIs: routed round-robin; each vCPU's SPIs get distinct priorities so that EOImode 0
  // guests nest (a higher priority preempts one in service).
  for (uint32_t intid = kFirstSpi; intid < kFirstSpi + kNumSpis; ++intid) {
    const uint32_t k = intid - kFirstSpi;
    irqvirt::vgic::IrqConfig c;
    c.priority = static_cast<uint8_t>(0xf0 - 8 * ((k / n) % 14));
    c.trigger = IsLevel(intid) ? irqvirt::vgic::Trigger::kLevel : irqvirt::vgic::Trigger::kEdge;
    if (absl::Status s = vgic_->ConfigureIrq(0, intid, c); !s.ok()) return s;
    if (absl::Status s = vgic_->RouteSpi(intid, k % n); !s.ok()) return s;
    if (IsResampled(intid)) {
      if (absl::Status s = vgic_->SetDeactivationNotifier(intid, &Arm64Host::OnDeactivated, this);
          !s.ok()) {
        return s;
      }
    }
    if (IsLevel(intid)) level_devices_[intid] = {};
  }
  return absl::OkStatus();
}

void Arm64Host::Start() {
  // Every vCPU boots into the guest, finds nothing to do and waits in WFI.
  for (auto& v : vcpus_) ScheduleRun(*v);
  auto rng = std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0xa64, 0));
  streams_.push_back(rng);
  NextSpi(*rng, 0);
  loop_.After(kWatchdogPeriod, [this] { Watchdog(); });
}

// ------------------------------------------------------------------------------------------
// The run loop.

cost::Ns Arm64Host::Charge(Vcpu& v, cost::Ns ns, int name) {
  const cost::Ns start = std::max(v.busy_until, loop_.now());
  v.busy_until = start + ns;
  trace_.Slice(v.host_track, start, start + ns, name, TraceCat::kHost);
  return start;
}

void Arm64Host::SetAsleep(Vcpu& v, bool asleep) {
  if (v.asleep == asleep) return;
  if (loop_.now() > v.state_since) {
    trace_.Slice(v.track, v.state_since, loop_.now(), v.asleep ? "WFI" : "guest", TraceCat::kGuest);
  }
  v.asleep = asleep;
  v.state_since = loop_.now();
}

void Arm64Host::Enter(Vcpu& v) {
  platform_.SetCurrentCpu(static_cast<int>(v.id));
  v.kicked = false;
  if (absl::Status s = vgic_->Flush(v.id, v.state); !s.ok()) {
    Failure("Flush: " + std::string(s.message()));
  }
  v.backend.Restore(v.state);
  v.in_guest = true;
  if (!trace_.enabled()) {
    Charge(v, static_cast<cost::Ns>(v.state.used_lrs) * cost::kListRegister, -1);
    return;
  }
  const uint32_t listed = vgic_->ApListLength(v.id);
  const int lrs = v.state.used_lrs;
  const int name =
      listed > static_cast<uint32_t>(options_.lrs)
          ? trace_.Name(absl::StrFormat("entry: flush, %u listed > %d LRs", listed, options_.lrs))
          : flush_names_.Get(trace_, static_cast<size_t>(lrs),
                             [&] { return absl::StrFormat("entry: flush %d LRs", lrs); });
  const cost::Ns start = Charge(
      v, std::max<cost::Ns>(2, static_cast<cost::Ns>(lrs) * cost::kListRegister), name);
  if (listed != v.ap_list_traced) {
    v.ap_list_traced = listed;
    trace_.Counter(pid_, loop_.now(), absl::StrFormat("AP list vCPU %u", v.id), listed);
  }
  // Where each newly raised interrupt was put: the LR this flush filled.
  for (int n = 0; n < v.state.used_lrs; ++n) {
    const uint64_t lr = v.state.lr[n];
    if ((lr & hw::arm::kIchLrPendingBit) == 0) continue;
    const uint32_t intid = hw::arm::IchLrVintid(lr);
    uint64_t& last = last_listed_flow_[intid];
    ledger_.ForEachRaiseIn(intid, intid, [&](uint64_t, const InterruptLedger::Raise& r) {
      if (r.flow > last) trace_.FlowStep(r.flow, v.host_track, start);
    });
    ledger_.ForEachRaiseIn(intid, intid, [&](uint64_t, const InterruptLedger::Raise& r) {
      last = std::max(last, r.flow);
    });
  }
}

void Arm64Host::Exit(Vcpu& v) {
  platform_.SetCurrentCpu(static_cast<int>(v.id));
  v.backend.Save(v.state);
  v.in_guest = false;
  ++exits_;
  const uint64_t notified = notifications_;
  const int lrs = v.state.used_lrs;
  if (absl::Status s = vgic_->Fold(v.id, v.state); !s.ok()) {
    Failure("Fold: " + std::string(s.message()));
  }
  // The fold read back the LRs and ran the notifiers on this vCPU.
  Charge(v,
         cost::kVcpuExit + static_cast<cost::Ns>(lrs) * cost::kListRegister +
             static_cast<cost::Ns>(notifications_ - notified) * cost::kNotifier,
         trace_.enabled() ? fold_names_.Get(trace_, static_cast<size_t>(lrs),
                                            [&] { return absl::StrFormat("exit: fold %d LRs", lrs); })
                          : -1);
}

// Exit and re-enter while the maintenance interrupt is asserted or a kick is pending.
void Arm64Host::ServiceExits(Vcpu& v) {
  for (int round = 0; v.in_guest; ++round) {
    const bool mi = v.cpu.maintenance_interrupt();
    if (!mi && !v.kicked) return;
    if (round == kMaxBackToBackExits) {
      ++livelocks_;
      Failure(absl::StrFormat("vCPU %u: the maintenance interrupt stays asserted after %d exits "
                              "in a row (live-lock)",
                              v.id, kMaxBackToBackExits));
      return;
    }
    if (mi) {
      // Why, from the hardware's ICH_MISR_EL2.
      const hw::arm::IchMisr misr = v.cpu.misr();
      mi_np_ += misr.np();
      mi_u_ += misr.u();
      mi_lrenp_ += misr.lrenp();
      mi_eoi_ += misr.eoi();
      Charge(v, cost::kMaintenanceExit,
             trace_.enabled() ? trace_.Name(absl::StrFormat("maintenance exit (%s%s%s%s)",
                                                            misr.np() ? "NP " : "",
                                                            misr.u() ? "U " : "",
                                                            misr.lrenp() ? "LRENP " : "",
                                                            misr.eoi() ? "EOI" : ""))
                              : -1);
    } else {
      ++kick_exits_;
    }
    Exit(v);
    Enter(v);
  }
}

void Arm64Host::Kick(void* context, uint32_t vcpu) {
  auto* host = static_cast<Arm64Host*>(context);
  Vcpu& v = *host->vcpus_[vcpu];
  v.kicked = true;
  host->ScheduleRun(v);
}

void Arm64Host::ScheduleRun(Vcpu& v) {
  if (v.run_scheduled) return;
  v.run_scheduled = true;
  const cost::Ns when = std::max(loop_.now() + cost::kKickLatency, v.busy_until);
  loop_.At(when, [this, &v] { GuestRun(v); });
}

// The vCPU runs: woken from WFI it enters; kicked in the guest it exits and re-enters. The
// guest then takes what its CPU interface offers: with EOImode 0 a higher priority preempts the
// handler in progress (nesting), with EOImode 1 the priority is dropped at once and the
// deactivation waits for the handler, so either way more interrupts can be in flight than LRs.
void Arm64Host::GuestRun(Vcpu& v) {
  v.run_scheduled = false;
  if (!v.in_guest) {
    ++wakes_;
    if (!vgic_->HasPendingIrq(v.id)) ++spurious_wakeups_;
    SetAsleep(v, false);
    Enter(v);
  }
  ServiceExits(v);
  AckLoop(v);
  hw::fake::GicGuest& g = v.guest;
  const bool busy = g.num_acknowledged_not_eoied() > 0 || g.num_waiting_for_dir() > 0;
  if (busy && !v.handler_running) {
    v.handler_running = true;
    loop_.After(kHandlerTime, [this, &v] { HandlerDone(v); });
  }
  if (!busy) {
    // Idle: the guest runs other work a little, then executes WFI.
    const uint64_t epoch = ++v.idle_epoch;
    loop_.After(kIdleBeforeWfi, [this, &v, epoch] { Wfi(v, epoch); });
  }
}

// The guest's IRQ exception: acknowledge until ICV_IAR1 reads 1023. An exit inside the last
// read (a maintenance interrupt, a kick) may have refilled the LRs: the CPU signals the IRQ
// again then, so the guest reads once more.
void Arm64Host::AckLoop(Vcpu& v) {
  hw::fake::GicGuest& g = v.guest;
  for (int retries = 0; retries < 4;) {
    const uint32_t intid = g.Acknowledge(1);
    if (intid == hw::fake::kSpuriousIntid) {
      if (v.in_guest && TakeableLrPending(v)) {
        ++retries;
        continue;
      }
      break;
    }
    Handle(v, intid);
    const int in_flight = g.num_acknowledged_not_eoied() + g.num_waiting_for_dir();
    v.max_in_flight = std::max(v.max_in_flight, in_flight);
    if (in_flight > options_.lrs) ++in_flight_over_lrs_;
    if (v.eoi_mode_split) g.EoiNewest();  // priority drop; DIR when the handler is done
  }
  CheckStrandedOutsideLrs(v);
}

// The handler of the newest interrupt finished: EOI it (EOImode 0), or deactivate the oldest
// priority-dropped one (EOImode 1), then take whatever is pending.
void Arm64Host::HandlerDone(Vcpu& v) {
  v.handler_running = false;
  if (!v.in_guest) Enter(v);  // cannot happen: a vCPU with a handler running never blocks
  if (v.guest.num_acknowledged_not_eoied() > 0) {
    v.guest.EoiNewest();
  } else if (v.guest.num_waiting_for_dir() > 0) {
    Deactivate(v);
  }
  ++v.idle_epoch;
  GuestRun(v);
}

// EOImode 1: deactivate the oldest waiting interrupt; every third one on another EOImode 1 vCPU
// that is in the guest (an SPI may be deactivated anywhere; the DIR traps there).
void Arm64Host::Deactivate(Vcpu& v) {
  const uint32_t intid = v.guest.waiting(0);
  Vcpu* other = nullptr;
  if (++handovers_ % 3 == 0) {
    for (auto& o : vcpus_) {
      // Only a vCPU whose guest also runs EOImode 1: with EOImode 0 a DIR does nothing.
      if (o.get() != &v && o->in_guest && o->eoi_mode_split && other == nullptr) other = o.get();
    }
  }
  if (other != nullptr) {
    v.guest.TakeWaiting(0);
    ++cross_vcpu_dirs_;
    other->guest.Dir(intid);
  } else {
    v.guest.DeactivateWaiting(0);
  }
}

// WFI traps: block unless something is pending.
void Arm64Host::Wfi(Vcpu& v, uint64_t epoch) {
  if (epoch != v.idle_epoch || !v.in_guest || v.handler_running) return;
  Exit(v);
  if (vgic_->HasPendingIrq(v.id)) {
    Enter(v);
    GuestRun(v);
    return;
  }
  ++wfi_blocks_;
  SetAsleep(v, true);
}

// The guest's handler for `intid`, run from its acknowledge: that is where the interrupt is
// consumed.
void Arm64Host::Handle(Vcpu& v, uint32_t intid) {
  if (intid < kFirstSpi) return;
  const cost::Ns now = loop_.now();
  cost::Ns at = now;
  if (trace_.enabled()) {
    at = trace_.SerialSlice(
        v.irq_track, now, kAckSlice,
        irq_names_.Get(trace_, intid, [&] { return absl::StrFormat("IRQ %u", intid); }),
        TraceCat::kGuestIrq);
  }
  const auto end_flow = [&](const InterruptLedger::Raise& r) {
    trace_.FlowEnd(r.flow, v.irq_track, at);
  };
  stories_.Add(intid, now, "vCPU %lld acknowledges it", v.id);
  if (!IsLevel(intid)) {
    ledger_.DeliverObligation(intid, now, end_flow);
    return;
  }
  LevelDevice& d = level_devices_[intid];
  if (IsResampled(intid)) {
    // Services the device: its work is done and it lowers the line (it stays masked at the
    // host until the deactivation notifier unmasks it).
    ledger_.DeliverRaises(intid, d.work, now, end_flow);
    d.work = 0;
    SetLine(intid, false);
    return;
  }
  // A plain level device: one work item per interrupt; the line stays high while it has more,
  // through the deactivation, so the vGIC must find it still pending when it folds.
  if (d.left_high) ++resampled_redeliveries_;
  ledger_.DeliverRaises(intid, 1, now, end_flow);
  d.work -= std::min<uint64_t>(d.work, 1);
  d.left_high = d.work > 0;
  if (d.left_high) {
    ++lines_left_high_;
    stories_.Add(intid, now, "the driver leaves the line high (%lld items left)",
                 static_cast<long long>(d.work));
  } else {
    SetLine(intid, false);
  }
}

// ------------------------------------------------------------------------------------------
// Devices.

void Arm64Host::RaiseEdge(uint32_t intid) {
  const cost::Ns now = loop_.now();
  const bool held = EdgePendingHeld(intid);
  const uint64_t flow = trace_.Raise(
      device_track_, now,
      spi_names_.Get(trace_, intid, [&] { return absl::StrFormat("SPI %u", intid); }));
  ledger_.Add(intid, held, now, flow);
  auto snap = vgic_->Snapshot(0, intid);
  stories_.Add(intid, now, "edge raised (already pending: %lld, active: %lld)", held ? 1 : 0,
               snap.ok() && snap->active ? 1 : 0);
  if (absl::Status s = vgic_->Inject(0, intid, true); !s.ok()) Failure("Inject");
  if (!EdgePendingHeld(intid)) {
    Failure(absl::StrFormat("INTID %u: an edge was injected, but neither the vGIC's latch nor an "
                            "LR holds it pending: dropped",
                            intid) +
            Story(intid));
  }
}

void Arm64Host::LevelWork(uint32_t intid, uint64_t items) {
  LevelDevice& d = level_devices_[intid];
  for (uint64_t i = 0; i < items; ++i) {
    const uint64_t flow = trace_.Raise(
        device_track_, loop_.now(),
        work_names_.Get(trace_, intid, [&] { return absl::StrFormat("SPI %u work", intid); }));
    // The line is the pending state: a raise while it is high merges into it.
    ledger_.Add(intid, d.line, loop_.now(), flow);
  }
  d.work += items;
  stories_.Add(intid, loop_.now(), "device gets %lld items (line high: %lld)",
               static_cast<long long>(items), d.line ? 1 : 0);
  if (IsResampled(intid)) {
    if (!d.masked) {
      d.masked = true;
      SetLine(intid, true);
    }
  } else if (!d.line) {
    SetLine(intid, true);
  }
}

void Arm64Host::SetLine(uint32_t intid, bool level) {
  level_devices_[intid].line = level;
  stories_.Add(intid, loop_.now(), "the device sets its line to %lld", level ? 1 : 0);
  if (absl::Status s = vgic_->Inject(0, intid, level); !s.ok()) Failure("Inject");
}

// The resample hook: the guest deactivated a resampled level SPI. Unmask the device; if it has
// more work, its line goes up again. Runs with no vGIC lock held; the re-assert is left to the
// host's own context (an event) rather than done from inside the fold.
void Arm64Host::OnDeactivated(void* context, uint32_t intid) {
  auto* host = static_cast<Arm64Host*>(context);
  ++host->notifications_;
  host->loop_.After(0, [host, intid] {
    LevelDevice& d = host->level_devices_[intid];
    d.masked = false;
    host->stories_.Add(intid, host->loop_.now(), "notifier: unmasked (%lld items)",
                       static_cast<long long>(d.work));
    if (d.work > 0) {
      d.masked = true;
      host->SetLine(intid, true);
    }
  });
}

void Arm64Host::NextSpi(std::mt19937_64& rng, cost::Ns t) {
  const double rate = options_.spi_rate + options_.batch_rate;
  t += Exponential(rng, rate);
  if (t >= end_of_traffic_ || rate <= 0) return;
  const bool burst = std::uniform_real_distribution<double>(0, rate)(rng) < options_.batch_rate;
  const uint32_t pick = static_cast<uint32_t>(rng() % kNumSpis);
  const uint64_t items = 1 + rng() % 3;
  loop_.At(t, [this, &rng, t, burst, pick, items] {
    const uint32_t n = static_cast<uint32_t>(options_.vcpus);
    if (burst) {
      // A device completes a batch: 2L + 2 edge SPIs of one vCPU at once (one kick for all of
      // them), every vCPU in turn. More than its LRs: NPIE must bring in the rest.
      ++bursts_;
      const uint32_t vcpu = next_burst_vcpu_++ % n;
      int raised = 0;
      for (uint32_t intid = kFirstSpi + vcpu; intid < kFirstLevelSpi; intid += n) {
        if (raised++ == 2 * options_.lrs + 2) break;
        RaiseEdge(intid);
      }
    } else {
      const uint32_t intid = kFirstSpi + pick;
      if (IsLevel(intid)) {
        LevelWork(intid, IsResampled(intid) ? 1 : items);
      } else {
        RaiseEdge(intid);
      }
    }
    NextSpi(rng, t);
  });
}

// ------------------------------------------------------------------------------------------
// The oracle.

// Whether the hardware holds `intid` pending now: an LR in Pending (while its vCPU is in the
// guest the LRs are the truth), or the vGIC's pending latch.
bool Arm64Host::EdgePendingHeld(uint32_t intid) {
  const Vcpu& v = *vcpus_[TargetOf(intid)];
  if (v.in_guest) {
    for (int n = 0; n < v.state.used_lrs; ++n) {
      const uint64_t lr = v.cpu.lr(n);
      if (hw::arm::IchLrVintid(lr) == intid && (lr & hw::arm::kIchLrPendingBit) != 0) return true;
    }
  }
  auto s = vgic_->Snapshot(0, intid);
  return s.ok() && s->pending_latch;
}

// An LR the guest could acknowledge now (Pending, not Active, above its running priority).
bool Arm64Host::TakeableLrPending(Vcpu& v) {
  const uint8_t rpr = v.cpu.RunningPriority() & kPriorityBits;
  for (int n = 0; n < options_.lrs; ++n) {
    const uint64_t lr = v.cpu.lr(n);
    if ((lr & hw::arm::kIchLrPendingBit) == 0 || (lr & hw::arm::kIchLrActiveBit) != 0) continue;
    const uint8_t priority =
        static_cast<uint8_t>(hw::arm::IchLrVirtual::FromRaw(lr).priority()) & kPriorityBits;
    if (priority < rpr && priority < kPriorityBits) return true;
  }
  return false;
}

// The guest read a spurious IAR. An interrupt it could take now (pending, enabled, above its
// running priority and mask) must then be on its way in: in an LR, or brought by a maintenance
// interrupt or a kick. One that waits outside the LRs with neither waits for an unrelated exit.
void Arm64Host::CheckStrandedOutsideLrs(Vcpu& v) {
  if (!v.in_guest || v.kicked || v.cpu.maintenance_interrupt()) return;
  const uint8_t rpr = v.cpu.RunningPriority() & kPriorityBits;
  const uint32_t n = static_cast<uint32_t>(options_.vcpus);
  for (uint32_t intid = kFirstSpi + v.id; intid < kFirstSpi + kNumSpis; intid += n) {
    auto s = vgic_->Snapshot(0, intid);
    if (!s.ok() || s->on_vcpu_list != static_cast<int32_t>(v.id) || s->on_lr || s->active || !s->enabled) {
      continue;
    }
    const bool pending = s->pending_latch || (IsLevel(intid) && s->line_level);
    const uint8_t priority = s->priority & kPriorityBits;
    if (!pending || priority >= rpr || priority >= kPriorityBits) continue;
    Failure(absl::StrFormat("vCPU %u read a spurious IAR while INTID %u waits outside its list "
                            "registers (pending, priority %#x above its running priority %#x) "
                            "with no maintenance interrupt (ICH_HCR %#x) or kick to bring it in",
                            v.id, intid, s->priority, rpr, v.cpu.hcr().raw()) +
            Story(intid));
    return;
  }
}

// The longest an SPI may wait for its guest handler on this VM: the guest may have a batch and
// every level SPI (with up to three items) ahead of it, each a handler long with an exit for
// its maintenance interrupt and one for its DIR; then the kick, and a vCPU that was about to
// enter WFI.
cost::Ns Arm64Host::RaiseBound() const {
  const cost::Ns per_interrupt = kHandlerTime + cost::kMaintenanceExit + cost::kDirTrap +
                                 2 * cost::kVcpuExit;
  return (2 * (2 * options_.lrs + 2) + 3 * static_cast<cost::Ns>(kLevelSpis)) * per_interrupt +
         cost::kKickLatency + kIdleBeforeWfi;
}

std::string Arm64Host::Story(uint32_t intid) const {
  return stories_.Tell(intid, absl::StrFormat("INTID %u (vCPU %u)", intid, TargetOf(intid)));
}

void Arm64Host::Watchdog() {
  const cost::Ns now = loop_.now();
  // Every edge owed is still pending somewhere.
  if (auto lost = ledger_.FirstUnheld([&](uint64_t intid) {
        return IsLevel(static_cast<uint32_t>(intid)) || EdgePendingHeld(static_cast<uint32_t>(intid));
      })) {
    Failure(absl::StrFormat("INTID %u: edges raised since %.3f us are owed, but nothing holds it "
                            "pending any more: lost",
                            *lost, static_cast<double>(*ledger_.OldestOf(*lost)) / cost::kUs) +
            Story(static_cast<uint32_t>(*lost)));
  }
  if (auto late = ledger_.Overdue(now, RaiseBound(), [](uint64_t intid) {
        return absl::StrFormat("INTID %u", intid);
      })) {
    Failure(late->second + Story(static_cast<uint32_t>(late->first)));
  }
  if (now < end_of_traffic_ + 5000 * cost::kUs) {
    loop_.After(kWatchdogPeriod, [this] { Watchdog(); });
  }
}

// ------------------------------------------------------------------------------------------

void Arm64Host::Finish(Report& report) {
  const cost::Ns now = loop_.now();
  std::vector<std::string> broken = failures_;
  for (auto& v : vcpus_) {
    if (now > v->state_since) {
      trace_.Slice(v->track, v->state_since, now, v->asleep ? "WFI" : "guest", TraceCat::kGuest);
    }
    v->state_since = now;
  }
  if (!loop_.stopped()) {
    for (auto& v : vcpus_) {
      if (vgic_->ApListLength(v->id) != 0) {
        broken.push_back(absl::StrFormat("arm64 GICv3: vCPU %u: %u interrupts still listed",
                                         v->id, vgic_->ApListLength(v->id)));
      }
      if (v->guest.num_acknowledged_not_eoied() != 0 || v->guest.num_waiting_for_dir() != 0) {
        broken.push_back(
            absl::StrFormat("arm64 GICv3: vCPU %u: guest left interrupts active", v->id));
      }
      if (v->cpu.bad_accesses() != 0) {
        broken.push_back(absl::StrFormat("arm64 GICv3: vCPU %u: %u accesses to missing registers",
                                         v->id, v->cpu.bad_accesses()));
      }
    }
    for (uint32_t intid = kFirstSpi; intid < kFirstSpi + kNumSpis; ++intid) {
      auto s = vgic_->Snapshot(0, intid);
      if (s.ok() && (s->active || s->pending_latch || s->line_level)) {
        broken.push_back(absl::StrFormat("arm64 GICv3: INTID %u still pending or active", intid) +
                         Story(intid));
      }
    }
    for (const std::string& v : platform_.violations()) broken.push_back("arm64 platform: " + v);
    if (physical_.spurious_deactivations() != 0) broken.push_back("arm64: double deactivation");
    int told = 0;
    ledger_.ForEachOutstanding([&](uint64_t intid, const std::vector<InterruptLedger::Raise>& r) {
      for (const InterruptLedger::Raise& raise : r) {
        trace_.Slice(vcpus_[TargetOf(static_cast<uint32_t>(intid))]->irq_track, now, now + 2,
                     "never delivered", TraceCat::kLost);
        trace_.FlowEnd(raise.flow, vcpus_[TargetOf(static_cast<uint32_t>(intid))]->irq_track, now + 10);
      }
      if (told++ < 3) {
        broken.push_back(absl::StrFormat("arm64 GICv3: INTID %u: %u raises since %.3f us were "
                                         "never delivered",
                                         intid, r.size(), static_cast<double>(r.front().at) / 1000) +
                         Story(static_cast<uint32_t>(intid)));
      }
    });
  }

  ComponentCount c{"arm64_gicv3_spis",  ledger_.component(), ledger_.raised(),
                   ledger_.delivered(), ledger_.lost(),      false};
  report.components.push_back(c);
  if (c.lost != 0 && !loop_.stopped()) {
    report.failures.push_back(absl::StrFormat("%s: %u lost", c.title, c.lost));
  }
  for (const std::string& b : broken) report.failures.push_back(b);

  irqvirt::vgic::VgicVcpuStats total;
  int max_in_flight = 0;
  for (auto& v : vcpus_) {
    total += vgic_->stats(v->id);
    max_in_flight = std::max(max_in_flight, v->max_in_flight);
  }
  Section& s = report.AddSection(
      "arm64_gicv3", absl::StrFormat("arm64 GICv3 vGIC (%d vCPUs, %d LRs, EOImode 0 and 1)",
                                     options_.vcpus, options_.lrs));
  s.metrics = {{"lr_overflows", double(total.overflowing_flushes)},
               {"maintenance_interrupts", double(total.maintenance_interrupts)},
               {"mi_np", double(mi_np_)},
               {"mi_underflow", double(mi_u_)},
               {"mi_lrenp", double(mi_lrenp_)},
               {"mi_eoi", double(mi_eoi_)},
               {"dir_traps", double(total.dir_traps)},
               {"eoicount_deactivations", double(total.eoicount_deactivations)},
               {"dir_deactivations", double(total.dir_deactivations)},
               {"cross_vcpu_dirs", double(cross_vcpu_dirs_)},
               {"max_in_flight", double(max_in_flight)},
               {"in_flight_over_lrs", double(in_flight_over_lrs_)},
               {"batches", double(bursts_)},
               {"lines_left_high", double(lines_left_high_)},
               {"resampled_redeliveries", double(resampled_redeliveries_)},
               {"notifications", double(notifications_)},
               {"exits", double(exits_)},
               {"kick_exits", double(kick_exits_)},
               {"wfi_blocks", double(wfi_blocks_)},
               {"wakes", double(wakes_)},
               {"spurious_wakeups", double(spurious_wakeups_)},
               {"irq_p50_us", ledger_.latency().PercentileUs(50), false},
               {"irq_p99_us", ledger_.latency().PercentileUs(99), false},
               {"irq_max_us", ledger_.latency().MaxUs(), false},
               {"irq_bound_us", double(RaiseBound()) / cost::kUs, false}};
  report.Mechanism("arm64_gicv3_lr_overflows", double(total.overflowing_flushes));
  report.Mechanism("arm64_gicv3_npie_exits", double(mi_np_));
  report.Mechanism("arm64_gicv3_eoicount_deactivations", double(total.eoicount_deactivations));
  report.Mechanism("arm64_gicv3_cross_vcpu_dirs", double(cross_vcpu_dirs_));
  report.Mechanism("arm64_gicv3_level_resamples", double(resampled_redeliveries_));
  report.Mechanism("arm64_gicv3_resampler_notifications", double(notifications_));
}

}  // namespace host_sim
