// SPDX-License-Identifier: MIT
#include "examples/host_sim/x86_host.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {
namespace {

constexpr cost::Ns kSlice = 200 * cost::kUs;        // a vCPU runs this long before preemption
constexpr cost::Ns kMeanGuestRun = 40 * cost::kUs;  // guest busy time before it halts

}  // namespace

X86Host::X86Host(const SimOptions& options, EventLoop& loop, bool rescan_after_overflow)
    : options_(options),
      loop_(loop),
      rescan_after_overflow_(rescan_after_overflow),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      total_vcpus_(options.vms * options.vcpus),
      platform_(options.pcpus, static_cast<uint32_t>(options.vms * options.vcpus), loop),
      vcpus_(total_vcpus_),
      pcpus_(options.pcpus),
      vms_(options.vms),
      guest_rng_(RandomStream(options.seed, 0x86, 1)),
      gappi_irqs_per_cpu_(options.pcpus, 0) {
  platform_.set_listener(this);
}

X86Host::~X86Host() {
  // Teardown in the embedder's order: the router and queues unregister their vectors first.
  router_.reset();
  queues_.reset();
  iommu_.reset();
}

void X86Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back(std::move(what));
}

absl::Status X86Host::Init() {
  // The IOMMU: the fake hardware below irqvirt's real driver.
  sink_ = std::make_unique<hw::fake::PlatformInterruptSink<X86Platform>>(platform_);
  iommu_hw_ = std::make_unique<hw::fake::FakeAmdIommu>(memory_, *sink_);
  hw::amd::IommuConfig config;
  config.ga_log_interrupt_apic_id = platform_.apic_id(0);
  config.ga_log_interrupt_vector = x86::kGaLogVector;
  config.request_gappi = options_.mode == PostedMode::kGappi;
  auto iommu = Iommu::Create(platform_, *iommu_hw_, memory_, config);
  if (!iommu.ok()) return iommu.status();
  iommu_ = std::move(*iommu);
  // GAPPI mode: per-CPU wakeup queues, two wakeup vectors per CPU.
  if (iommu_->mode() == hw::amd::GuestIrMode::kGappi) {
    irqvirt::wakeup::WakeupConfig wc;
    wc.num_cpus = options_.pcpus;
    wc.vectors_per_cpu = x86::kWakeupVectorsPerCpu;
    wc.first_vector = x86::kFirstWakeupVector;
    wc.max_vcpus = static_cast<uint32_t>(total_vcpus_);
    auto q = Router::Queues::Create(platform_, wc);
    if (!q.ok()) return q.status();
    queues_ = std::move(*q);
  }
  irqvirt::posted::RouterConfig rc;
  rc.max_vcpus = static_cast<uint32_t>(total_vcpus_);
  rc.rescan_after_overflow = rescan_after_overflow_;
  auto router = Router::Create(platform_, *iommu_, queues_.get(), rc);
  if (!router.ok()) return router.status();
  router_ = std::move(*router);

  // vCPUs: a vAPIC backing page each, in memory the IOMMU can reach.
  for (int g = 0; g < total_vcpus_; ++g) {
    Vcpu& v = vcpus_[g];
    v.vm = g / options_.vcpus;
    v.index = g % options_.vcpus;
    v.cpu = g % options_.pcpus;
    auto page = memory_.Allocate(hw::x86::kVapicPageSize, 4096);
    if (!page.ok()) return page.status();
    v.page = *page;
    irqvirt::posted::VcpuConfig vc;
    vc.vm_id = static_cast<uint32_t>(v.vm + 1);
    vc.vcpu_index = static_cast<uint32_t>(v.index);
    vc.vapic_page = static_cast<uint8_t*>(v.page.va);
    vc.vapic_page_pa = v.page.pa;
    vc.home_cpu = v.cpu;
    if (absl::Status s = router_->AddVcpu(static_cast<uint32_t>(g), vc); !s.ok()) return s;
  }

  // Assigned devices: 4 IRTEs (queues) each, bound to the vCPUs of the device's VM.
  for (int d = 0; d < options_.devices; ++d) {
    const uint16_t device_id = static_cast<uint16_t>(d);  // requester IDs 0..255
    if (absl::Status s = iommu_->AttachDevice(device_id); !s.ok()) return s;
    const int vm = d % options_.vms;
    for (int k = 0; k < x86::kIrtesPerDevice; ++k) {
      Irte irte{device_id, static_cast<uint16_t>(k), vm,
                Gid(vm, (d / options_.vms + k) % options_.vcpus),
                static_cast<uint8_t>(x86::kFirstMsiVector + (d * x86::kIrtesPerDevice + k) % 16)};
      if (absl::Status s = router_->Bind({irte.device_id, irte.index},
                                         static_cast<uint32_t>(irte.owner), irte.vector);
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
    m.storm_timer = std::make_unique<EventTimer>(loop_);
    auto ioapic = irqvirt::ioapic::Ioapic::Create(*m.lapics, *m.storm_timer, io);
    if (!ioapic.ok()) return ioapic.status();
    m.ioapic = std::move(*ioapic);
    m.storm_timer->set_callback([this, vm] { vms_[vm].ioapic->OnStormTimer(); });
    m.line_work.assign(x86::kLinesPerVm, 0);
    // The guest's boot-time programming: level, active high, fixed, physical destination.
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
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
  if (router_->mode() == hw::amd::GuestIrMode::kGaLog &&
      iommu_->ga_log_interrupt_apic_id() == platform_.apic_id(cpu)) {
    if (absl::Status s = router_->RetargetGaLogInterrupt(other); !s.ok()) {
      Failure("x86: RetargetGaLogInterrupt: " + std::string(s.message()));
      return;
    }
    ++ga_log_retargets_;
  }
  // GAPPI mode: vCPUs parked on this CPU move, and their IRTEs with them.
  auto moved = router_->OfflineCpu(cpu);
  if (!moved.ok()) {
    Failure("x86: OfflineCpu: " + std::string(moved.status().message()));
    return;
  }
  platform_.HandleDeferredNow(cpu);
  platform_.SetOnline(cpu, false);
  Pcpu& p = pcpus_[cpu];
  p.online = false;
  ++offlines_;
  ++p.slice_epoch;
  std::deque<int> evicted;
  evicted.swap(p.runqueue);
  if (p.running >= 0) {
    const int g = p.running;
    p.running = -1;
    platform_.SetCurrentCpu(cpu);
    router_->Put(static_cast<uint32_t>(g));
    ++vcpus_[g].epoch;
    evicted.push_front(g);
  }
  for (int g : evicted) {
    ++migrations_;
    Enqueue(g, LeastLoadedCpu(-1));
  }
}

void X86Host::CpuOnline(int cpu) {
  if (pcpus_[cpu].online) return;
  platform_.SetOnline(cpu, true);
  if (absl::Status s = router_->OnlineCpu(cpu); !s.ok()) {
    Failure("x86: OnlineCpu: " + std::string(s.message()));
  }
  pcpus_[cpu].online = true;
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

void X86Host::ChargeCommands(int cpu, uint64_t commands_before) {
  const uint64_t n = iommu_hw_->commands_executed() - commands_before;
  if (n > 0) platform_.Charge(cpu, static_cast<cost::Ns>(n) * cost::kIommuCommand);
}

void X86Host::Enqueue(int g, int cpu) {
  Vcpu& v = vcpus_[g];
  v.state = State::kRunnable;
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
  const uint64_t commands = iommu_hw_->commands_executed();
  if (irqvirt::posted::RouteError e = router_->Load(static_cast<uint32_t>(g), cpu); !e.ok()) {
    Failure("x86: Load: " + std::string(e.ToStatus().message()));
  }
  ChargeCommands(cpu, commands);
  v.state = State::kRunning;
  v.cpu = cpu;
  v.stranded = false;
  ++v.epoch;
  p.running = g;
  if (v.pending_since >= 0) {
    wake_latency_.Add(loop_.now() - v.pending_since);
    v.pending_since = -1;
  }
  GuestTakeInterrupts(g);
  const uint64_t epoch = v.epoch;
  const cost::Ns run = Exponential(guest_rng_, 1e6 / static_cast<double>(kMeanGuestRun));
  loop_.After(run, [this, g, epoch] { Halt(g, epoch); });
  const uint64_t slice = ++p.slice_epoch;
  loop_.After(kSlice, [this, cpu, slice] { Preempt(cpu, slice); });
}

void X86Host::Preempt(int cpu, uint64_t slice) {
  Pcpu& p = pcpus_[cpu];
  if (p.slice_epoch != slice || p.running < 0) return;
  if (p.runqueue.empty()) {
    const uint64_t next = ++p.slice_epoch;
    loop_.After(kSlice, [this, cpu, next] { Preempt(cpu, next); });
    return;
  }
  const int g = p.running;
  p.running = -1;
  platform_.SetCurrentCpu(cpu);
  router_->Put(static_cast<uint32_t>(g));
  ++vcpus_[g].epoch;
  ++preemptions_;
  // Load balancing: a preempted vCPU goes to the least loaded CPU, which migrates it.
  const int target = LeastLoadedCpu(cpu);
  if (target != cpu) ++migrations_;
  Dispatch(cpu);
  Enqueue(g, target);
}

// The guest executes HLT: everything pending was handled, so the host blocks the vCPU.
void X86Host::Halt(int g, uint64_t epoch) {
  Vcpu& v = vcpus_[g];
  if (v.state != State::kRunning || v.epoch != epoch) return;
  GuestTakeInterrupts(g);
  const int cpu = v.cpu;
  platform_.SetCurrentCpu(cpu);
  const uint64_t commands = iommu_hw_->commands_executed();
  const irqvirt::posted::BlockOutcome b = router_->Block(static_cast<uint32_t>(g), cpu);
  ChargeCommands(cpu, commands);
  ++halts_;
  if (b.decision == irqvirt::wakeup::BlockDecision::kSleep) {
    v.state = State::kBlocked;
    ++v.epoch;
    pcpus_[cpu].running = -1;
    Dispatch(cpu);
    return;
  }
  // An interrupt came in the window (or parking was refused): do not sleep, run on.
  if (!b.error.ok() && b.error.code != irqvirt::posted::RouteErrorCode::kNotParked) {
    Failure("x86: Block: " + std::string(b.error.ToStatus().message()));
  }
  ++halt_aborts_;
  router_->Load(static_cast<uint32_t>(g), cpu);
  GuestTakeInterrupts(g);
  const uint64_t next = ++v.epoch;
  loop_.After(Exponential(guest_rng_, 1e6 / static_cast<double>(kMeanGuestRun)),
              [this, g, next] { Halt(g, next); });
}

void X86Host::WakeRequested(uint32_t vcpu, cost::Ns when) {
  ++wake_requests_;
  if (options_.hooks.drop_every_nth_wake != 0 &&
      wake_requests_ % options_.hooks.drop_every_nth_wake == 0) {
    ++dropped_wakes_;  // the deliberate defect: this wakeup never reaches the scheduler
    return;
  }
  vcpus_[vcpu].wake_coming = true;
  loop_.At(when, [this, vcpu] { Wake(static_cast<int>(vcpu)); });
}

// GA log mode: right after the handler drained the log, every blocked vCPU with a pending
// interrupt must have a wakeup coming. One without is a lost wakeup: only a later, unrelated
// interrupt would ever wake it (what KVM's restart without a rescan does after an overflow).
void X86Host::HandlerDone(int cpu, uint8_t vector) {
  (void)cpu;
  if (vector != x86::kGaLogVector) return;
  for (int g = 0; g < total_vcpus_; ++g) {
    Vcpu& v = vcpus_[g];
    if (v.state == State::kBlocked && !v.wake_coming && !v.stranded &&
        Page(g).Any(hw::x86::ApicVectorReg::kIrr)) {
      v.stranded = true;
      ++lost_wakeups_;
    }
  }
}

void X86Host::Wake(int g) {
  Vcpu& v = vcpus_[g];
  v.wake_coming = false;
  if (v.state != State::kBlocked) {
    ++redundant_wakes_;  // already runnable: several GA log entries for one vCPU, for example
    return;
  }
  ++wakes_;
  if (!Page(g).Any(hw::x86::ApicVectorReg::kIrr)) ++spurious_wakeups_;
  const int cpu = LeastLoadedCpu(v.cpu);
  if (cpu != v.cpu) ++migrations_;
  Enqueue(g, cpu);
}

// An interrupt is in vCPU g's IRR (posted by the IOMMU, or delivered by its I/O APIC).
void X86Host::InterruptArrived(int g, bool host_kick) {
  Vcpu& v = vcpus_[g];
  switch (v.state) {
    case State::kRunning:
      // A doorbell (or the host's self-IPI): the guest takes it almost at once.
      loop_.After(cost::kGuestAckLatency, [this, g] { GuestTakeInterrupts(g); });
      break;
    case State::kBlocked:
      if (v.pending_since < 0) v.pending_since = loop_.now();
      if (host_kick && !v.wake_coming) {
        ++host_kicks_;
        v.wake_coming = true;
        loop_.After(0, [this, g] { Wake(g); });
      }
      break;
    case State::kRunnable:
      break;  // taken when it next runs
  }
}

// The guest's interrupt handling: acknowledge the highest IRR vector, run its handler, EOI.
// An EOI whose vector is in the EOI-exit bitmap exits to the host, which passes it to the I/O
// APIC; the bitmap is refreshed whenever the I/O APIC asks for a rescan (before entry).
void X86Host::GuestTakeInterrupts(int g) {
  Vcpu& v = vcpus_[g];
  if (v.state != State::kRunning) return;
  Vm& m = vms_[v.vm];
  irqvirt::ioapic::Ioapic& io = *m.ioapic;
  const hw::x86::VapicPage page = Page(g);
  for (int budget = 0; budget < 1024; ++budget) {
    if (io.RescanPending(v.index)) {
      io.ProcessPendingRescans(v.index);
      ++rescans_processed_;
    }
    v.eoi_exit_bitmap = io.HandledVectors(v.index);
    const int highest = page.Highest(hw::x86::ApicVectorReg::kIrr);
    if (highest < 0) return;
    const uint8_t vector = static_cast<uint8_t>(highest);
    page.Clear(hw::x86::ApicVectorReg::kIrr, vector);
    page.Set(hw::x86::ApicVectorReg::kIsr, vector);
    // The handler.
    if (vector >= x86::kFirstLineVector && vector < x86::kFirstLineVector + x86::kLinesPerVm) {
      const int line = vector - x86::kFirstLineVector;
      // Services the device: its work is done and it drops the line.
      line_ledger_.Deliver(x86::LineKey(v.vm, line));
      m.line_work[line] = 0;
      if (!io.SetIrq(x86::kFirstLinePin + line, false).ok()) Failure("x86: SetIrq refused a pin");
    } else {
      msi_ledger_.Deliver(x86::MsiKey(g, vector));
    }
    // EOI.
    page.Clear(hw::x86::ApicVectorReg::kIsr, vector);
    const bool level = page.Test(hw::x86::ApicVectorReg::kTmr, vector);
    if (v.eoi_exit_bitmap.test(vector)) {
      ++eoi_exits_;
      auto stale = io.HighestStalePendingEoi(v.index);
      if (stale.ok() && *stale == vector) ++stale_eoi_rescans_;
      platform_.Charge(v.cpu, cost::kEoiExit);
      io.OnLapicEoi(v.index, vector, level);
    }
    if (level) page.Clear(hw::x86::ApicVectorReg::kTmr, vector);
  }
  Failure(absl::StrFormat("x86: vCPU %d: interrupt storm the guest could not drain", g));
}

// ------------------------------------------------------------------------------------------
// Handler accounting (X86Platform::Listener).

void X86Host::BeforeHandler(int cpu, uint8_t vector) {
  stats_before_ = router_->stats();
  woken_before_ = platform_.total_wakes();
  queue_length_before_ = 0;
  if (queues_ != nullptr && vector != x86::kGaLogVector) {
    queue_length_before_ = queues_->QueueLength(cpu, vector);
  }
}

cost::Ns X86Host::AfterHandler(int cpu, uint8_t vector) {
  const irqvirt::posted::RouterStats s = router_->stats();
  const uint64_t woken = platform_.total_wakes() - woken_before_;
  cost::Ns spent = cost::kIrqEntry + static_cast<cost::Ns>(woken) * cost::kVcpuWoken;
  if (vector == x86::kGaLogVector) {
    ++ga_log_handler_runs_;
    const uint64_t entries = (s.ga_log_wakes - stats_before_.ga_log_wakes) +
                             (s.ga_log_unknown_tags - stats_before_.ga_log_unknown_tags);
    spent += static_cast<cost::Ns>(entries) * cost::kGaLogEntry;
    if (s.ga_log_overflows != stats_before_.ga_log_overflows && rescan_after_overflow_) {
      // The post-overflow rescan looked at every vCPU's IRR.
      spent += static_cast<cost::Ns>(total_vcpus_) * cost::kVcpuScanned;
      vcpus_scanned_ += static_cast<uint64_t>(total_vcpus_);
    }
  } else {
    ++wakeup_handler_runs_;
    ++gappi_irqs_per_cpu_[cpu];
    spent += static_cast<cost::Ns>(queue_length_before_) * cost::kVcpuScanned;
    vcpus_scanned_ += queue_length_before_;
  }
  handler_ns_ += spent;
  max_handler_ns_ = std::max(max_handler_ns_, spent);
  return spent;
}

}  // namespace host_sim
