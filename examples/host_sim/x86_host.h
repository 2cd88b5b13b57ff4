// SPDX-License-Identifier: MIT
// One simulated x86 host: P pCPUs, VMs of vCPUs under a simple scheduler, assigned devices whose
// MSIs the (fake) AMD IOMMU posts into the vCPUs' vAPIC pages, and one emulated I/O APIC per VM
// with level-triggered lines. irqvirt does the interrupt work; this class is the hypervisor
// around it. Which exit calls which irqvirt entry point:
//
//   vCPU scheduled in (run, wake, migrate)   PostedRouter::Load(vcpu, cpu)
//   vCPU preempted                           PostedRouter::Put(vcpu)
//   HLT exit                                 PostedRouter::Block(vcpu, cpu): sleep on kSleep only
//   before entry                             Ioapic::ProcessPendingRescans, HandledVectors
//                                            (the EOI-exit bitmap)
//   EOI exit (vector in that bitmap)         Ioapic::OnLapicEoi(vcpu, vector, TMR bit)
//   I/O APIC MMIO exit                       Ioapic::MmioWrite / MmioRead
//   device line (INTx, resampled)            Ioapic::SetIrq(pin, level)
//   CPU hot-unplug                           PostedRouter::RetargetGaLogInterrupt (GA log CPU),
//                                            PostedRouter::OfflineCpu, then OnlineCpu
//   GA log / wakeup vectors                  registered by irqvirt itself (x86_platform.h)
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_HOST_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_HOST_H_

#include <bitset>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "examples/host_sim/event_loop.h"
#include "examples/host_sim/event_timer.h"
#include "examples/host_sim/ledger.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/x86_lapics.h"
#include "examples/host_sim/x86_platform.h"
#include "hw/amd/iommu.h"
#include "hw/fake/fake_amd_iommu.h"
#include "hw/fake/fake_physical_memory.h"
#include "hw/fake/interrupt_sink.h"
#include "irqvirt/ioapic/ioapic.h"
#include "irqvirt/posted/posted_router.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace host_sim {

class X86Host : public X86Platform::Listener {
 public:
  using Router = irqvirt::posted::PostedRouter<X86Platform>;
  using Iommu = hw::amd::Iommu<X86Platform>;

  // `rescan_after_overflow` = false runs KVM's GA log restart (the documented baseline).
  X86Host(const SimOptions& options, EventLoop& loop, bool rescan_after_overflow);
  ~X86Host() override;

  // Builds the host: IOMMU driver, router, wakeup queues, vCPUs, devices, I/O APICs.
  absl::Status Init();
  // Schedules the device traffic and the guests' first runs.
  void Start();
  // After the run has drained: checks every invariant and fills the report.
  // `label` distinguishes a baseline run ("" for irqvirt).
  void Finish(Report& report, const std::string& label);

  // --- X86Platform::Listener ---
  void BeforeHandler(int cpu, uint8_t vector) override;
  cost::Ns AfterHandler(int cpu, uint8_t vector) override;
  void WakeRequested(uint32_t vcpu, cost::Ns when) override;
  void HandlerDone(int cpu, uint8_t vector) override;

 private:
  enum class State { kRunnable, kRunning, kBlocked };
  struct Vcpu {
    int vm = 0;
    int index = 0;  // within its VM: its APIC ID and I/O APIC vCPU number
    State state = State::kRunnable;
    int cpu = 0;
    uint64_t epoch = 0;           // invalidates stale halt events
    cost::Ns pending_since = -1;  // an interrupt arrived while it was blocked
    bool wake_coming = false;     // a wakeup was requested and has not landed yet
    bool stranded = false;        // counted as a lost wakeup (once per blocked episode)
    hw::DmaBuffer page;
    std::bitset<256> eoi_exit_bitmap;
  };
  struct Pcpu {
    bool online = true;
    int running = -1;
    std::deque<int> runqueue;
    uint64_t slice_epoch = 0;
  };
  struct Vm {
    std::unique_ptr<VapicLapics> lapics;
    std::unique_ptr<EventTimer> storm_timer;  // the I/O APIC's storm guard
    std::unique_ptr<irqvirt::ioapic::Ioapic> ioapic;
    std::vector<uint64_t> line_work;  // per simulated INTx pin: work the device holds
  };
  struct Irte {
    uint16_t device_id;
    uint16_t index;
    int vm;
    int owner;  // global vCPU id
    uint8_t vector;
  };

  int Gid(int vm, int index) const { return vm * options_.vcpus + index; }
  hw::x86::VapicPage Page(int g) const { return hw::x86::VapicPage(vcpus_[g].page.va); }

  // Scheduler.
  void Enqueue(int g, int cpu);
  void Dispatch(int cpu);
  void RunOn(int g, int cpu);
  void Preempt(int cpu, uint64_t epoch);
  void Halt(int g, uint64_t epoch);
  void Wake(int g);
  int LeastLoadedCpu(int preferred) const;
  void ChargeCommands(int cpu, uint64_t commands_before);
  // The guest: acknowledges, handles and EOIs everything in IRR.
  void GuestTakeInterrupts(int g);
  // `host_kick`: the host delivered it (I/O APIC) and wakes a blocked vCPU itself; posted
  // MSIs leave that to irqvirt (GA log or GAPPI).
  void InterruptArrived(int g, bool host_kick);

  // The world around the host (x86_traffic.cc): each source has its own random stream, so a
  // baseline sees the same traffic.
  void FireMsi(size_t irte);
  void NextMsi(int device, std::mt19937_64& rng, cost::Ns t);
  void NextStorm(std::mt19937_64& rng, cost::Ns t);
  void NextLineWork(int vm, int pin, std::mt19937_64& rng, cost::Ns t);
  void NextReroute(int vm, std::mt19937_64& rng, cost::Ns t);
  void NextAffinityChange(std::mt19937_64& rng, cost::Ns t);
  void NextHotplug(std::mt19937_64& rng, cost::Ns t);
  void LineWork(int vm, int pin);
  void GuestReroute(int vm, int pin, int new_dest);
  void CpuOffline(int cpu);
  void CpuOnline(int cpu);
  // The guest's dword accesses to its I/O APIC: IOREGSEL, then IOWIN (two MMIO exits each).
  void IoapicWrite(int vm, uint8_t sel, uint32_t value);
  uint32_t IoapicRead(int vm, uint8_t sel);
  hw::x86::IoapicRedirectionEntry GuestReadRte(int vm, int pin);
  void Failure(std::string what);

  const SimOptions options_;
  EventLoop& loop_;
  const bool rescan_after_overflow_;
  const cost::Ns end_of_traffic_;
  const int total_vcpus_;

  X86Platform platform_;
  hw::fake::FakePhysicalMemory memory_;
  std::unique_ptr<hw::fake::PlatformInterruptSink<X86Platform>> sink_;
  std::unique_ptr<hw::fake::FakeAmdIommu> iommu_hw_;
  std::unique_ptr<Iommu> iommu_;
  std::unique_ptr<Router::Queues> queues_;
  std::unique_ptr<Router> router_;

  std::vector<Vcpu> vcpus_;
  std::vector<Pcpu> pcpus_;
  std::vector<Vm> vms_;
  std::vector<Irte> irtes_;
  std::mt19937_64 guest_rng_;
  std::vector<std::shared_ptr<std::mt19937_64>> streams_keepalive_;  // the traffic streams' RNGs
  // A new seeded traffic stream (RandomStream(seed, 0x86, stream)), kept alive here.
  std::mt19937_64& NewStream(uint64_t stream);

  // Accounting.
  InterruptLedger msi_ledger_{"x86 posted MSIs"};
  InterruptLedger line_ledger_{"x86 I/O APIC level lines"};
  LatencyStats wake_latency_;
  uint64_t wakes_ = 0, spurious_wakeups_ = 0, redundant_wakes_ = 0, dropped_wakes_ = 0;
  uint64_t wake_requests_ = 0;  // counts toward TestHooks::drop_every_nth_wake
  uint64_t host_kicks_ = 0, lost_wakeups_ = 0;
  uint64_t migrations_ = 0, preemptions_ = 0, halts_ = 0, halt_aborts_ = 0;
  uint64_t offlines_ = 0, ga_log_retargets_ = 0;
  uint64_t storms_ = 0, affinity_changes_ = 0;
  uint64_t eoi_exits_ = 0, stale_eoi_rescans_ = 0, rescans_processed_ = 0;
  uint64_t reroutes_ = 0, reroutes_in_flight_ = 0, mmio_exits_ = 0;
  uint64_t ga_log_handler_runs_ = 0, wakeup_handler_runs_ = 0;
  uint64_t vcpus_scanned_ = 0;
  cost::Ns handler_ns_ = 0, max_handler_ns_ = 0;
  std::vector<uint64_t> gappi_irqs_per_cpu_;
  // BeforeHandler's snapshot.
  irqvirt::posted::RouterStats stats_before_;
  uint64_t woken_before_ = 0;
  uint32_t queue_length_before_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_HOST_H_
