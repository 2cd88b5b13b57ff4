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
constexpr uint32_t kFirstLevelSpi = 80;  // 80..87 level (resampled devices), 32..79 edge
constexpr uint32_t kLevelSpis = 8;
constexpr double kBurstsPerMs = 1.0;  // bursts that put more interrupts on one vCPU than LRs
constexpr int kMaxBackToBackExits = 64;
constexpr cost::Ns kHandlerTime = 8 * cost::kUs;     // a guest handler's run time
constexpr cost::Ns kIdleBeforeWfi = 20 * cost::kUs;  // guest work between interrupts and WFI
constexpr cost::Ns kBurstSpacing =
    1 * cost::kUs;  // a burst's SPIs, in rising priority  // an MI still asserted after this many
                    // re-entries: live-lock

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
    host.Failure("arm64: HandleDirTrap: " + std::string(s.message()));
  }
  host.Charge(*this, cost::kDirTrap);
  host.Enter(*this);
}

// The simulated CPU has TDIR and traps no group register, so no other ICV_* access exits; a CPU
// without TDIR, or with trap_all_cpu_interface_accesses, would save, call
// EmulateCpuInterfaceAccess, fold and re-enter here.
uint64_t Arm64Host::Vcpu::SysRegTrapped(hw::arm::SysRegEncoding, bool, uint64_t) {
  host.Failure("arm64: an ICV_* access trapped on a CPU that traps none");
  return 0;
}

void Arm64Host::Vcpu::AfterGuestOperation() { host.ServiceExits(*this); }

Arm64Host::Arm64Host(const SimOptions& options, EventLoop& loop)
    : options_(options),
      loop_(loop),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      platform_(options.vcpus, static_cast<uint32_t>(options.vcpus)) {}

void Arm64Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back(std::move(what));
}

bool Arm64Host::IsLevel(uint32_t intid) const {
  return intid >= kFirstLevelSpi && intid < kFirstLevelSpi + kLevelSpis;
}

absl::Status Arm64Host::Init() {
  const uint32_t n = static_cast<uint32_t>(options_.vcpus);
  for (uint32_t i = 0; i < n; ++i) {
    vcpus_.push_back(std::make_unique<Vcpu>(*this, i, options_.lrs));
  }
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
    if (IsLevel(intid)) {
      if (absl::Status s = vgic_->SetDeactivationNotifier(intid, &Arm64Host::OnDeactivated, this);
          !s.ok()) {
        return s;
      }
      level_devices_[intid] = {};
    }
  }
  return absl::OkStatus();
}

void Arm64Host::Start() {
  // Every vCPU boots into the guest, finds nothing to do and waits in WFI.
  for (auto& v : vcpus_) ScheduleRun(*v);
  auto rng = std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0xa64, 0));
  streams_.push_back(rng);
  NextSpi(*rng, 0);
}

// ------------------------------------------------------------------------------------------
// The run loop.

void Arm64Host::Charge(Vcpu& v, cost::Ns ns) {
  v.busy_until = std::max(v.busy_until, loop_.now()) + ns;
}

void Arm64Host::Enter(Vcpu& v) {
  platform_.SetCurrentCpu(static_cast<int>(v.id));
  v.kicked = false;
  if (absl::Status s = vgic_->Flush(v.id, v.state); !s.ok()) {
    Failure("arm64: Flush: " + std::string(s.message()));
  }
  v.backend.Restore(v.state);
  v.in_guest = true;
  Charge(v, static_cast<cost::Ns>(v.state.used_lrs) * cost::kListRegister);
}

void Arm64Host::Exit(Vcpu& v) {
  platform_.SetCurrentCpu(static_cast<int>(v.id));
  v.backend.Save(v.state);
  v.in_guest = false;
  ++exits_;
  const uint64_t notified = notifications_;
  if (absl::Status s = vgic_->Fold(v.id, v.state); !s.ok()) {
    Failure("arm64: Fold: " + std::string(s.message()));
  }
  // The fold read back the LRs and ran the notifiers on this vCPU.
  Charge(v, cost::kVcpuExit + static_cast<cost::Ns>(v.state.used_lrs) * cost::kListRegister +
                static_cast<cost::Ns>(notifications_ - notified) * cost::kNotifier);
}

// Exit and re-enter while the maintenance interrupt is asserted or a kick is pending.
void Arm64Host::ServiceExits(Vcpu& v) {
  for (int round = 0; v.in_guest; ++round) {
    const bool mi = v.cpu.maintenance_interrupt();
    if (!mi && !v.kicked) return;
    if (round == kMaxBackToBackExits) {
      ++livelocks_;
      return;
    }
    if (mi) {
      Charge(v, cost::kMaintenanceExit);
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
    Enter(v);
  }
  ServiceExits(v);
  hw::fake::GicGuest& g = v.guest;
  for (uint32_t intid; (intid = g.Acknowledge(1)) != hw::fake::kSpuriousIntid;) {
    Handle(intid);
    const int in_flight = g.num_acknowledged_not_eoied() + g.num_waiting_for_dir();
    v.max_in_flight = std::max(v.max_in_flight, in_flight);
    if (in_flight > options_.lrs) ++in_flight_over_lrs_;
    if (v.eoi_mode_split) g.EoiNewest();  // priority drop; DIR when the handler is done
  }
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
}

// The guest's handler for `intid`.
void Arm64Host::Handle(uint32_t intid) {
  if (intid < kFirstSpi) return;
  auto first = first_raised_.find(intid);
  if (first != first_raised_.end()) {
    latency_.Add(loop_.now() - first->second);
    first_raised_.erase(first);
  }
  ledger_.Deliver(intid);
  if (IsLevel(intid)) {
    // Services the device: its work is done and it lowers the line (it stays masked at the
    // host until the deactivation notifier unmasks it).
    level_devices_[intid].work = 0;
    if (absl::Status s = vgic_->Inject(0, intid, false); !s.ok()) Failure("arm64: Inject");
  }
}

// ------------------------------------------------------------------------------------------
// Devices.

void Arm64Host::RaiseEdge(uint32_t intid) {
  if (!ledger_.Outstanding(intid)) first_raised_[intid] = loop_.now();
  ledger_.Raise(intid);
  if (absl::Status s = vgic_->Inject(0, intid, true); !s.ok()) Failure("arm64: Inject");
}

void Arm64Host::LevelWork(uint32_t intid) {
  if (!ledger_.Outstanding(intid)) first_raised_[intid] = loop_.now();
  ledger_.Raise(intid);
  LevelDevice& d = level_devices_[intid];
  ++d.work;
  if (!d.masked) AssertLine(intid);
}

void Arm64Host::AssertLine(uint32_t intid) {
  level_devices_[intid].masked = true;
  if (absl::Status s = vgic_->Inject(0, intid, true); !s.ok()) Failure("arm64: Inject");
}

// The resample hook: the guest deactivated a level SPI. Unmask the device; if it has more work,
// its line goes up again. Runs with no vGIC lock held; the re-assert is left to the host's own
// context (an event) rather than done from inside the fold.
void Arm64Host::OnDeactivated(void* context, uint32_t intid) {
  auto* host = static_cast<Arm64Host*>(context);
  ++host->notifications_;
  host->loop_.After(0, [host, intid] {
    LevelDevice& d = host->level_devices_[intid];
    d.masked = false;
    if (d.work > 0) host->AssertLine(intid);
  });
}

void Arm64Host::NextSpi(std::mt19937_64& rng, cost::Ns t) {
  const double rate = options_.spi_rate + kBurstsPerMs;
  t += Exponential(rng, rate);
  if (t >= end_of_traffic_ || rate <= 0) return;
  const bool burst = std::uniform_real_distribution<double>(0, rate)(rng) < kBurstsPerMs;
  const uint32_t pick = static_cast<uint32_t>(rng() % kNumSpis);
  loop_.At(t, [this, &rng, t, burst, pick] {
    const uint32_t n = static_cast<uint32_t>(options_.vcpus);
    if (burst) {
      // 2L + 2 edge SPIs of one vCPU, 1 µs apart in rising priority: each preempts the handler
      // of the one before, so more are active than the vCPU has list registers.
      const uint32_t vcpu = pick % n;
      int raised = 0;
      for (uint32_t intid = kFirstSpi + vcpu; intid < kFirstLevelSpi; intid += n) {
        if (raised == 2 * options_.lrs + 2) break;
        loop_.After(raised++ * kBurstSpacing, [this, intid] { RaiseEdge(intid); });
      }
    } else {
      const uint32_t intid = kFirstSpi + pick;
      if (IsLevel(intid)) {
        LevelWork(intid);
      } else if (intid < kFirstLevelSpi) {
        RaiseEdge(intid);
      }
    }
    NextSpi(rng, t);
  });
}

// ------------------------------------------------------------------------------------------

void Arm64Host::Finish(Report& report) {
  std::vector<std::string> broken = failures_;
  for (auto& v : vcpus_) {
    if (vgic_->ApListLength(v->id) != 0) {
      broken.push_back(absl::StrFormat("arm64 GICv3: vCPU %u: %u interrupts still listed", v->id,
                                       vgic_->ApListLength(v->id)));
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
      broken.push_back(absl::StrFormat("arm64 GICv3: INTID %u still pending or active", intid));
    }
  }
  if (livelocks_ != 0) {
    broken.push_back(
        absl::StrFormat("arm64 GICv3: %u maintenance-interrupt live-locks", livelocks_));
  }
  for (const std::string& v : platform_.violations()) broken.push_back("arm64 platform: " + v);
  if (physical_.spurious_deactivations() != 0) broken.push_back("arm64: double deactivation");

  ComponentCount c{"arm64_gicv3_spis",  ledger_.component(), ledger_.raised(),
                   ledger_.delivered(), ledger_.lost(),      false};
  report.components.push_back(c);
  if (c.lost != 0) report.failures.push_back(absl::StrFormat("%s: %u lost", c.title, c.lost));
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
               {"dir_traps", double(total.dir_traps)},
               {"eoicount_deactivations", double(total.eoicount_deactivations)},
               {"dir_deactivations", double(total.dir_deactivations)},
               {"cross_vcpu_dirs", double(cross_vcpu_dirs_)},
               {"max_in_flight", double(max_in_flight)},
               {"in_flight_over_lrs", double(in_flight_over_lrs_)},
               {"notifications", double(notifications_)},
               {"exits", double(exits_)},
               {"kick_exits", double(kick_exits_)},
               {"wfi_blocks", double(wfi_blocks_)},
               {"wakes", double(wakes_)},
               {"spurious_wakeups", double(spurious_wakeups_)},
               {"irq_p50_us", latency_.PercentileUs(50), false},
               {"irq_p99_us", latency_.PercentileUs(99), false},
               {"irq_max_us", latency_.MaxUs(), false}};
}

}  // namespace host_sim
