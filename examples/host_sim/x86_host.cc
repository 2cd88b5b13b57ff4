#include "examples/host_sim/x86_host.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {
namespace {

constexpr uint8_t kGaLogVector = 0xe0;
constexpr uint8_t kFirstWakeupVector = 0xf1;
constexpr int kWakeupVectorsPerCpu = 2;
constexpr int kIrtesPerDevice = 4;
constexpr uint8_t kFirstMsiVector = 0x40;  // MSI vectors 0x40..0x4f
constexpr int kLinesPerVm = 4;             // I/O APIC pins 16..19 (PCI INTA..INTD)
constexpr int kFirstLinePin = 16;
constexpr uint8_t kFirstLineVector = 0x80;  // pin 16 + i uses vector 0x80 + i
constexpr cost::Ns kSlice = 200 * cost::kUs;
constexpr cost::Ns kMeanGuestRun = 40 * cost::kUs;  // guest busy time before it halts
constexpr cost::Ns kOfflineFor = 1000 * cost::kUs;
constexpr double kHotplugPerMs = 0.2;
constexpr double kAffinityChangesPerMs = 0.5;

uint64_t MsiKey(int g, uint8_t vector) { return (uint64_t(g) << 8) | vector; }
uint64_t LineKey(int vm, int line) { return (uint64_t(vm) << 8) | uint64_t(line); }

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
      guest_rng_(Stream(1)),
      gappi_irqs_per_cpu_(options.pcpus, 0) {
  platform_.set_listener(this);
}

X86Host::~X86Host() {
  // Teardown in the embedder's order: the router and queues unregister their vectors first.
  router_.reset();
  queues_.reset();
  iommu_.reset();
}

std::mt19937_64 X86Host::Stream(uint64_t id) const {
  std::seed_seq seq{options_.seed, id, uint64_t{0x86}};
  return std::mt19937_64(seq);
}

cost::Ns X86Host::Exponential(std::mt19937_64& rng, double per_ms) {
  if (per_ms <= 0) return INT64_MAX / 4;
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  return static_cast<cost::Ns>(-std::log(1.0 - u) / per_ms * 1e6) + 1;
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
  config.ga_log_interrupt_vector = kGaLogVector;
  config.request_gappi = options_.mode == PostedMode::kGappi;
  auto iommu = Iommu::Create(platform_, *iommu_hw_, memory_, config);
  if (!iommu.ok()) return iommu.status();
  iommu_ = std::move(*iommu);
  // GAPPI mode: per-CPU wakeup queues, two wakeup vectors per CPU.
  if (iommu_->mode() == hw::amd::GuestIrMode::kGappi) {
    irqvirt::wakeup::WakeupConfig wc;
    wc.num_cpus = options_.pcpus;
    wc.vectors_per_cpu = kWakeupVectorsPerCpu;
    wc.first_vector = kFirstWakeupVector;
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
    for (int k = 0; k < kIrtesPerDevice; ++k) {
      Irte irte{device_id, static_cast<uint16_t>(k), vm,
                Gid(vm, (d / options_.vms + k) % options_.vcpus),
                static_cast<uint8_t>(kFirstMsiVector + (d * kIrtesPerDevice + k) % 16)};
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
    auto ioapic = irqvirt::ioapic::Ioapic::Create(*m.lapics, m.timer, io);
    if (!ioapic.ok()) return ioapic.status();
    m.ioapic = std::move(*ioapic);
    m.line_work.assign(kLinesPerVm, 0);
    // The guest's boot-time programming: level, active high, fixed, physical destination.
    for (int l = 0; l < kLinesPerVm; ++l) {
      const auto rte = hw::x86::IoapicRedirectionEntry()
                           .set_vector(kFirstLineVector + l)
                           .set_trigger_mode(1)
                           .set_destination(static_cast<uint64_t>(l % options_.vcpus));
      const int pin = kFirstLinePin + l;
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

void X86Host::Start() {
  for (int g = 0; g < total_vcpus_; ++g) Enqueue(g, vcpus_[g].cpu);
  for (int d = 0; d < options_.devices; ++d) {
    auto rng = std::make_shared<std::mt19937_64>(Stream(100 + d));
    NextMsi(d, *rng, 0);
    // Keep the stream's RNG alive with its events.
    streams_keepalive_.push_back(rng);
  }
  auto storm = std::make_shared<std::mt19937_64>(Stream(2));
  NextStorm(*storm, 0);
  streams_keepalive_.push_back(storm);
  for (int vm = 0; vm < options_.vms; ++vm) {
    for (int l = 0; l < kLinesPerVm; ++l) {
      auto rng = std::make_shared<std::mt19937_64>(Stream(1000 + vm * 16 + l));
      NextLineWork(vm, l, *rng, 0);
      streams_keepalive_.push_back(rng);
    }
    auto rr = std::make_shared<std::mt19937_64>(Stream(2000 + vm));
    NextReroute(vm, *rr, 0);
    streams_keepalive_.push_back(rr);
  }
  auto aff = std::make_shared<std::mt19937_64>(Stream(3));
  NextAffinityChange(*aff, 0);
  streams_keepalive_.push_back(aff);
  auto hp = std::make_shared<std::mt19937_64>(Stream(4));
  NextHotplug(*hp, 0);
  streams_keepalive_.push_back(hp);
}

// ------------------------------------------------------------------------------------------
// Device traffic.

void X86Host::NextMsi(int device, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.msi_rate);
  if (t >= end_of_traffic_) return;
  const size_t irte = static_cast<size_t>(device * kIrtesPerDevice) + rng() % kIrtesPerDevice;
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
    // A storm: the device fires round-robin over its IRTEs at storm_per_us.
    const cost::Ns gap =
        std::max<cost::Ns>(1, static_cast<cost::Ns>(1000.0 / options_.storm_per_us));
    const cost::Ns end = std::min(t + options_.storm_len_us * cost::kUs, end_of_traffic_);
    int k = 0;
    for (cost::Ns s = t; s < end; s += gap, ++k) {
      const size_t irte = static_cast<size_t>(device * kIrtesPerDevice + k % kIrtesPerDevice);
      loop_.At(s, [this, irte] { FireMsi(irte); });
    }
    NextStorm(rng, t);
  });
}

void X86Host::FireMsi(size_t i) {
  const Irte& irte = irtes_[i];
  const hw::fake::Delivery d = iommu_hw_->DeviceInterrupt(irte.device_id, irte.index);
  if (d.kind == hw::fake::DeliveryKind::kFault || d.kind == hw::fake::DeliveryKind::kRemapped) {
    msi_ledger_.Drop();
    Failure(absl::StrFormat("x86: MSI on IRTE %#x:%u not posted (%s)", irte.device_id, irte.index,
                            d.fault));
    return;
  }
  // The IOMMU wrote the IRR of the page the IRTE named: find its vCPU.
  int g = -1;
  for (int v = 0; v < total_vcpus_ && g < 0; ++v) {
    if (vcpus_[v].page.pa == d.vapic_page_pa) g = v;
  }
  if (g < 0) {
    msi_ledger_.Drop();
    Failure(absl::StrFormat("x86: MSI posted to an unknown page %#x", d.vapic_page_pa));
    return;
  }
  msi_ledger_.Raise(MsiKey(g, irte.vector));
  InterruptArrived(g, /*host_kick=*/false);
}

void X86Host::NextLineWork(int vm, int line, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.line_rate);
  if (t >= end_of_traffic_) return;
  loop_.At(t, [this, vm, line, &rng, t] {
    LineWork(vm, line);
    NextLineWork(vm, line, rng, t);
  });
}

void X86Host::LineWork(int vm, int line) {
  Vm& m = vms_[vm];
  line_ledger_.Raise(LineKey(vm, line));
  ++m.line_work[line];
  // The device holds its INTx line high while it has work (level-triggered).
  if (!m.ioapic->SetIrq(kFirstLinePin + line, true).ok()) Failure("x86: SetIrq refused a pin");
}

void X86Host::NextReroute(int vm, std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.reroute_rate);
  if (t >= end_of_traffic_) return;
  const int line = static_cast<int>(rng() % kLinesPerVm);
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
  irqvirt::ioapic::Ioapic& io = *vms_[vm].ioapic;
  // The guest's balancer prefers a busy line, one whose interrupt is in flight right now.
  for (int l = 0; l < kLinesPerVm; ++l) {
    auto e = io.Entry(kFirstLinePin + l);
    if (e.ok() && e->remote_irr() != 0) {
      line = l;
      break;
    }
  }
  const int pin = kFirstLinePin + line;
  auto entry = io.Entry(pin);
  if (!entry.ok()) {
    Failure("x86: I/O APIC refused its own pin");
    return;
  }
  const int old_dest = static_cast<int>(entry->destination());
  if (entry->remote_irr() != 0 ||
      Page(Gid(vm, old_dest)).Test(hw::x86::ApicVectorReg::kIrr, kFirstLineVector + line)) {
    ++reroutes_in_flight_;
  }
  ++reroutes_;
  const uint64_t mmio_before = mmio_exits_;
  auto rte = *entry;
  rte.set_remote_irr(0).set_delivery_status(0);
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(1).raw()));
  IoapicWrite(vm, static_cast<uint8_t>(0x11 + 2 * pin),
              static_cast<uint32_t>(rte.set_destination(static_cast<uint64_t>(dest)).raw() >> 32));
  IoapicWrite(vm, static_cast<uint8_t>(0x10 + 2 * pin),
              static_cast<uint32_t>(rte.set_mask(0).raw()));
  platform_.Charge(vcpus_[writer].cpu,
                   static_cast<cost::Ns>(mmio_exits_ - mmio_before) * cost::kMmioExit);
}

// The guest changes an MSI's affinity: the router moves the IRTE to another vCPU of the VM.
void X86Host::NextAffinityChange(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, kAffinityChangesPerMs);
  if (t >= end_of_traffic_ || irtes_.empty()) return;
  const size_t i = rng() % irtes_.size();
  const int index = static_cast<int>(rng() % static_cast<uint64_t>(options_.vcpus));
  loop_.At(t, [this, i, index, &rng, t] {
    Irte& irte = irtes_[i];
    const int to = Gid(irte.vm, index);
    if (to != irte.owner) {
      const uint64_t commands = iommu_hw_->commands_executed();
      platform_.SetCurrentCpu(vcpus_[to].cpu);
      if (absl::Status s =
              router_->Bind({irte.device_id, irte.index}, static_cast<uint32_t>(to), irte.vector);
          s.ok()) {
        irte.owner = to;
        ++affinity_changes_;
      } else {
        Failure("x86: Bind: " + std::string(s.message()));
      }
      ChargeCommands(vcpus_[to].cpu, commands);
    }
    NextAffinityChange(rng, t);
  });
}

// CPU hot-unplug and replug.
void X86Host::NextHotplug(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, kHotplugPerMs);
  if (t >= end_of_traffic_ || options_.pcpus < 3) return;
  const int cpu = static_cast<int>(rng() % static_cast<uint64_t>(options_.pcpus));
  loop_.At(t, [this, cpu, &rng, t] {
    if (pcpus_[cpu].online) {
      CpuOffline(cpu);
      loop_.After(kOfflineFor, [this, cpu] { CpuOnline(cpu); });
    }
    NextHotplug(rng, t);
  });
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
  if (vector != kGaLogVector) return;
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
    if (vector >= kFirstLineVector && vector < kFirstLineVector + kLinesPerVm) {
      const int line = vector - kFirstLineVector;
      // Services the device: its work is done and it drops the line.
      line_ledger_.Deliver(LineKey(v.vm, line));
      m.line_work[line] = 0;
      if (!io.SetIrq(kFirstLinePin + line, false).ok()) Failure("x86: SetIrq refused a pin");
    } else {
      msi_ledger_.Deliver(MsiKey(g, vector));
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
  if (queues_ != nullptr && vector != kGaLogVector) {
    queue_length_before_ = queues_->QueueLength(cpu, vector);
  }
}

cost::Ns X86Host::AfterHandler(int cpu, uint8_t vector) {
  const irqvirt::posted::RouterStats s = router_->stats();
  const uint64_t woken = platform_.total_wakes() - woken_before_;
  cost::Ns spent = cost::kIrqEntry + static_cast<cost::Ns>(woken) * cost::kVcpuWoken;
  if (vector == kGaLogVector) {
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

// ------------------------------------------------------------------------------------------
// The end: invariants and the report.

void X86Host::Finish(Report& report, const std::string& label) {
  const bool baseline = !label.empty();
  const std::string tag = baseline ? " [" + label + "]" : "";
  std::vector<std::string> broken = failures_;
  if (absl::Status s = router_->CheckInvariants(); !s.ok()) {
    broken.push_back("x86: router invariants: " + std::string(s.message()));
  }
  if (queues_ != nullptr) {
    if (absl::Status s = queues_->CheckInvariants(); !s.ok()) {
      broken.push_back("x86: wakeup queue invariants: " + std::string(s.message()));
    }
  }
  for (const std::string& v : platform_.violations()) broken.push_back("x86 platform: " + v);
  if (platform_.lost_interrupts() != 0) {
    broken.push_back(
        absl::StrFormat("x86: %u interrupts sent to offline CPUs", platform_.lost_interrupts()));
  }
  if (platform_.spurious_interrupts() != 0) {
    broken.push_back(absl::StrFormat("x86: %u interrupts on vectors nobody handles",
                                     platform_.spurious_interrupts()));
  }
  if (sink_->unknown_destinations() != 0) {
    broken.push_back(absl::StrFormat("x86: %u interrupts aimed at no CPU's APIC ID",
                                     sink_->unknown_destinations()));
  }
  for (int vm = 0; vm < options_.vms; ++vm) {
    for (int l = 0; l < kLinesPerVm; ++l) {
      auto e = vms_[vm].ioapic->Entry(kFirstLinePin + l);
      if (e.ok() && e->remote_irr() != 0) {
        broken.push_back(absl::StrFormat("x86: VM %d pin %d: Remote IRR still set at the end", vm,
                                         kFirstLinePin + l));
      }
    }
  }
  // A vCPU still asleep with a pending interrupt at the end: its wakeup was lost too.
  for (int g = 0; g < total_vcpus_; ++g) {
    const Vcpu& v = vcpus_[g];
    if (v.state == State::kBlocked && !v.stranded && Page(g).Any(hw::x86::ApicVectorReg::kIrr)) {
      ++lost_wakeups_;
    }
  }
  if (!baseline && lost_wakeups_ != 0) {
    broken.push_back(absl::StrFormat(
        "x86: %u wakeups lost (a blocked vCPU had a pending interrupt and no wakeup coming)",
        lost_wakeups_));
  }
  const auto component = [&](const InterruptLedger& l, const std::string& key) {
    ComponentCount c;
    c.key = key + (baseline ? "_baseline" : "");
    c.title = l.component() + tag;
    c.raised = l.raised();
    c.delivered = l.delivered();
    c.lost = l.lost();
    c.baseline = baseline;
    report.components.push_back(c);
    if (!baseline && c.lost != 0) {
      report.failures.push_back(absl::StrFormat("%s: %u lost", l.component(), c.lost));
    }
  };
  component(msi_ledger_, "x86_posted_msi");
  if (!baseline) component(line_ledger_, "x86_ioapic_lines");
  if (!baseline) {
    for (const std::string& b : broken) report.failures.push_back(b);
  }

  const irqvirt::posted::RouterStats rs = router_->stats();
  const bool galog = router_->mode() == hw::amd::GuestIrMode::kGaLog;
  Section& w = report.AddSection(
      baseline ? "x86_wakeups_baseline" : "x86_wakeups",
      std::string("x86 wakeups (") + (galog ? "GA log" : "GAPPI") + " mode)" + tag);
  w.metrics = {{"wakes", double(wakes_)},
               {"lost_wakeups", double(lost_wakeups_)},
               {"spurious_wakeups", double(spurious_wakeups_)},
               {"redundant_wakes", double(redundant_wakes_)},
               {"wake_p50_us", wake_latency_.PercentileUs(50), false},
               {"wake_p99_us", wake_latency_.PercentileUs(99), false},
               {"wake_max_us", wake_latency_.MaxUs(), false},
               {"handler_max_us", double(max_handler_ns_) / cost::kUs, false},
               {"vcpus_scanned", double(vcpus_scanned_)},
               {"host_kicks", double(host_kicks_)}};
  if (dropped_wakes_ != 0) w.metrics.push_back({"dropped_wakes_defect", double(dropped_wakes_)});
  if (galog) {
    Section& g =
        report.AddSection(baseline ? "x86_ga_log_baseline" : "x86_ga_log", "x86 GA log" + tag);
    g.metrics = {{"entries", double(iommu_hw_->ga_log_entries_written())},
                 {"drops", double(iommu_hw_->ga_log_entries_dropped())},
                 {"overflows", double(rs.ga_log_overflows)},
                 {"rescans", double(rescan_after_overflow_ ? rs.ga_log_overflows : 0)},
                 {"rescan_wakes", double(rs.overflow_rescan_wakes)},
                 {"interrupts", double(iommu_hw_->ga_log_interrupts())},
                 {"handler_runs", double(ga_log_handler_runs_)},
                 {"cpu_retargets", double(ga_log_retargets_)}};
  } else {
    Section& g = report.AddSection("x86_gappi", "x86 GAPPI interrupts per CPU");
    for (int c = 0; c < options_.pcpus; ++c) {
      g.metrics.push_back({"cpu" + std::to_string(c), double(gappi_irqs_per_cpu_[c])});
    }
    g.metrics.push_back({"total", double(iommu_hw_->gappi_interrupts())});
  }
  if (baseline) return;
  Section& s = report.AddSection("x86_scheduler", "x86 scheduler and devices");
  s.metrics = {{"halts", double(halts_)},
               {"halts_aborted", double(halt_aborts_)},
               {"preemptions", double(preemptions_)},
               {"migrations", double(migrations_)},
               {"cpu_offlines", double(offlines_)},
               {"storms", double(storms_)},
               {"msi_affinity_changes", double(affinity_changes_)},
               {"rebind_wakes", double(rs.rebind_wakes)},
               {"iommu_commands", double(iommu_hw_->commands_executed())}};
  Section& io = report.AddSection("x86_ioapic", "x86 I/O APIC");
  io.metrics = {{"eoi_exits", double(eoi_exits_)},
                {"stale_eoi_rescans", double(stale_eoi_rescans_)},
                {"rescans", double(rescans_processed_)},
                {"reroutes", double(reroutes_)},
                {"reroutes_in_flight", double(reroutes_in_flight_)},
                {"mmio_exits", double(mmio_exits_)}};
}

}  // namespace host_sim
