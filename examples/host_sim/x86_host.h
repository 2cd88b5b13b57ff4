// SPDX-License-Identifier: MIT
// One simulated x86 host: P pCPUs, VMs of vCPUs under a simple scheduler, assigned devices whose
// MSIs the (fake) IOMMU posts (x86_posting.h: AMD in GA log or GAPPI mode, or Intel VT-d), and
// one emulated I/O APIC per VM with level-triggered lines. irqvirt does the interrupt work; this
// class is the hypervisor around it. Which exit calls which irqvirt entry point:
//
//   vCPU scheduled in (run, wake, migrate)   Load(vcpu, cpu)     (VT-d: then sync PIR to IRR)
//   vCPU preempted                           Put(vcpu)
//   HLT exit (after the exit's own latency)  Block(vcpu, cpu): sleep on kSleep only
//   before entry                             Ioapic::ProcessPendingRescans, HandledVectors
//                                            (the EOI-exit bitmap)
//   EOI exit (vector in that bitmap)         Ioapic::OnLapicEoi(vcpu, vector, TMR bit)
//   I/O APIC MMIO exit                       Ioapic::MmioWrite / MmioRead
//   device line (INTx)                       Ioapic::SetIrq(pin, level), on every change
//   CPU hot-unplug                           RetargetGaLogInterrupt (AMD GA log CPU),
//                                            OfflineCpu, then OnlineCpu
//   GA log / wakeup vectors                  registered by irqvirt itself (x86_platform.h)
//
// The guest takes one interrupt at a time: acknowledge (IRR to ISR), kGuestIrqHandler of work,
// EOI. It halts when it has nothing to do; the HLT exit takes kHltExit before Block parks it, and
// an interrupt posted in that window rings a doorbell nobody hears: Block must find it.
//
// The host checks as it goes (an oracle, not a reporter): every notification against where its
// vCPU is, every blocked vCPU for a pending interrupt with no wakeup coming (after every host
// handler, after every Block), every undelivered interrupt for a pending state that could still
// deliver it, every asserted line for an I/O APIC that delivers it, and the age of the oldest
// undelivered interrupt against a bound derived from the cost model.
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
#include "examples/host_sim/trace.h"
#include "examples/host_sim/x86_lapics.h"
#include "examples/host_sim/x86_platform.h"
#include "examples/host_sim/x86_posting.h"
#include "hw/fake/interrupt_sink.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/ioapic/ioapic.h"

namespace host_sim {

class X86Host : public X86Platform::Listener, public hw::fake::InterruptSink {
 public:
  // `rescan_after_overflow` = false runs KVM's GA log restart (the documented baseline, whose
  // lost wakeups are counted, not failed). `trace` may be disabled.
  X86Host(const SimOptions& options, EventLoop& loop, X86Mode mode, bool rescan_after_overflow,
          bool baseline, Trace& trace);
  ~X86Host() override;

  // Builds the host: IOMMU driver, router, wakeup queues, vCPUs, devices, I/O APICs.
  absl::Status Init();
  // Schedules the device traffic and the guests' first runs.
  void Start();
  // After the run has drained: checks what is left and fills the report.
  void Finish(Report& report);
  bool failed() const { return !failures_.empty(); }

  // The name of this host in reports and traces ("x86 GA log", "x86 KVM baseline", ...).
  std::string Name() const;
  // Its key suffix and component key ("_galog", "x86_galog").
  std::string Key() const;

  // --- X86Platform::Listener ---
  void BeforeHandler(int cpu, uint8_t vector) override;
  cost::Ns AfterHandler(int cpu, uint8_t vector) override;
  void HandlerCharged(int cpu, uint8_t vector, cost::Ns start, cost::Ns end) override;
  void WakeRequested(uint32_t vcpu, cost::Ns when, int cpu) override;
  void HandlerDone(int cpu, uint8_t vector) override;

  // --- hw::fake::InterruptSink: what the IOMMU sends ---
  void SendInterrupt(uint32_t apic_id, uint8_t vector) override;
  void RingDoorbell(uint32_t apic_id) override;

 private:
  enum class State { kRunnable, kRunning, kHalting, kBlocked };
  struct Vcpu {
    int vm = 0;
    int index = 0;  // within its VM: its APIC ID and I/O APIC vCPU number
    State state = State::kRunnable;
    int cpu = 0;
    uint64_t epoch = 0;          // invalidates stale halt / block events
    cost::Ns state_since = 0;    // for the trace
    // The guest.
    int handler_vector = -1;     // the interrupt whose handler runs (-1: none)
    cost::Ns handler_start = 0;
    cost::Ns handler_deadline = 0;  // when the running handler ends
    cost::Ns handler_left = 0;      // the handler's remaining time while preempted
    uint64_t handler_epoch = 0;  // invalidates a handler end after a preemption
    bool wants_halt = false;     // idle: it halts once nothing is pending
    bool take_scheduled = false;
    // Wakeups.
    cost::Ns pending_since = -1;  // first interrupt pending while blocked
    bool wake_coming = false;     // a wakeup was requested and has not landed yet
    bool stranded = false;        // counted as a lost wakeup (once per blocked episode)
    bool kicked_while_halting = false;
    bool blocked_in_router = false;  // Block said kSleep and no Load since: IRTEs notify wakeups
    hw::DmaBuffer page;  // vAPIC page
    std::bitset<256> eoi_exit_bitmap;
    int track = -1, irq_track = -1;
    uint64_t last_wake_flow = 0;  // the trace: flows already shown reaching a wake
  };
  struct Pcpu {
    bool online = true;
    int running = -1;
    std::deque<int> runqueue;
    uint64_t slice_epoch = 0;
    bool preempt_due = false;  // the slice ended during an HLT exit: preempt if Block backs out
    std::deque<uint8_t> inflight;  // vectors the IOMMU sent that have not arrived yet
    int track = -1;
  };
  struct Line {
    uint64_t work = 0;  // items the device holds: the line is high while > 0
    int track = -1;
  };
  struct Vm {
    std::unique_ptr<VapicLapics> lapics;
    std::unique_ptr<EventTimer> storm_timer;  // the I/O APIC's storm guard
    std::unique_ptr<irqvirt::ioapic::Ioapic> ioapic;
    std::vector<Line> lines;
    int track = -1;  // the I/O APIC
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
  // Whether g has an interrupt pending anywhere (its IRR, or its PI descriptor).
  bool HasPending(int g) { return Page(g).Any(hw::x86::ApicVectorReg::kIrr) ||
                                  posting_->PendingOutsidePage(g); }

  // Scheduler (x86_host.cc).
  void Enqueue(int g, int cpu);
  void Dispatch(int cpu);
  void RunOn(int g, int cpu);
  void Preempt(int cpu, uint64_t epoch);
  void StopRunning(int g);  // Put, with the guest's handler paused
  void HaltTimer(int g, uint64_t epoch);
  void Halt(int g);
  void BlockAfterHltExit(int g, uint64_t epoch);
  void Wake(int g);
  int LeastLoadedCpu(int preferred) const;
  void ChargeCommands(int cpu, uint64_t commands_before, const char* what);
  void SetState(int g, State s);

  // The guest (x86_guest.cc).
  void ScheduleTake(int g, cost::Ns delay);
  void GuestTakeNext(int g);
  void HandlerEnd(int g, uint64_t epoch);
  void Doorbell(int cpu);
  void ArriveAt(int cpu);
  // `host_kick`: the host delivered it (I/O APIC) and wakes a blocked vCPU itself; posted
  // MSIs leave that to irqvirt (GA log or wakeup vector).
  void InterruptArrived(int g, bool host_kick);

  // The world around the host (x86_traffic.cc): each source has its own random stream, so a
  // baseline sees the same traffic.
  void FireMsi(size_t irte);
  void NextMsi(int device, std::mt19937_64& rng, cost::Ns t);
  void NextStorm(std::mt19937_64& rng, cost::Ns t);
  void StormMsi(int device, int k, cost::Ns at, cost::Ns gap, cost::Ns end);
  void NextLineWork(int vm, int pin, std::mt19937_64& rng, cost::Ns t);
  void NextReroute(int vm, std::mt19937_64& rng, cost::Ns t);
  void NextAffinityChange(std::mt19937_64& rng, cost::Ns t);
  void NextHotplug(std::mt19937_64& rng, cost::Ns t);
  void NextIrqsOff(int cpu, std::mt19937_64& rng, cost::Ns t);
  void LineWork(int vm, int line, uint64_t items);
  void SetLine(int vm, int line, bool level);
  void GuestReroute(int vm, int line, int new_dest);
  void CpuOffline(int cpu);
  void CpuOnline(int cpu);
  // The guest's dword accesses to its I/O APIC: IOREGSEL, then IOWIN (two MMIO exits each).
  void IoapicWrite(int vm, uint8_t sel, uint32_t value);
  uint32_t IoapicRead(int vm, uint8_t sel);
  hw::x86::IoapicRedirectionEntry GuestReadRte(int vm, int pin);

  // The oracle (x86_checks.cc).
  void CheckNotification(const Irte& irte, const Posted& p);
  void CheckStranded(const char* after);
  bool WakeInFlight(int g);
  void Watchdog();
  void CheckLines(int vm);
  std::string VcpuStory(int g) const;
  void Failure(std::string what);
  cost::Ns RaiseBound() const;
  cost::Ns WakeBound() const;

  // Trace helpers.
  void TraceWakeSteps(int g, int cpu, cost::Ns at);
  void TraceGaLogFill();
  TraceNames msi_names_, irq_names_, run_names_, eoi_names_, hlt_names_, pin_names_;

  const SimOptions options_;
  EventLoop& loop_;
  const X86Mode mode_;
  const bool rescan_after_overflow_;
  const bool baseline_;
  Trace& trace_;
  const cost::Ns end_of_traffic_;
  const int total_vcpus_;

  X86Platform platform_;
  std::unique_ptr<PostingUnit> posting_;

  std::vector<Vcpu> vcpus_;
  std::vector<Pcpu> pcpus_;
  std::vector<Vm> vms_;
  std::vector<Irte> irtes_;
  std::vector<int> device_tracks_;
  int iommu_track_ = -1;
  int pid_ = -1;
  std::mt19937_64 guest_rng_;
  std::vector<std::shared_ptr<std::mt19937_64>> streams_keepalive_;  // the traffic streams' RNGs
  // A new seeded traffic stream (RandomStream(seed, 0x86, stream)), kept alive here.
  std::mt19937_64& NewStream(uint64_t stream);

  // Accounting.
  InterruptLedger msi_ledger_{"posted MSIs"};
  InterruptLedger line_ledger_{"I/O APIC level lines"};
  StoryLog stories_;  // by vCPU id, and by 0x10000 + line key
  LatencyStats wake_latency_;
  uint64_t wakes_needed_ = 0, wakes_met_ = 0, wakes_ = 0, spurious_wakeups_ = 0;
  uint64_t redundant_wakes_ = 0;
  uint64_t dropped_wakes_ = 0, wake_requests_ = 0;
  uint64_t host_kicks_ = 0, lost_wakeups_ = 0;
  uint64_t migrations_ = 0, preemptions_ = 0, halts_ = 0, halt_aborts_ = 0;
  uint64_t hlt_window_doorbells_ = 0, handlers_preempted_ = 0;
  uint64_t offlines_ = 0, ga_log_retargets_ = 0;
  uint64_t storms_ = 0, affinity_changes_ = 0, irqs_off_sections_ = 0;
  uint64_t eoi_exits_ = 0, stale_eoi_rescans_ = 0, rescans_processed_ = 0;
  uint64_t lines_high_at_eoi_ = 0, line_bursts_ = 0;
  uint64_t reroutes_ = 0, reroutes_in_flight_ = 0, mmio_exits_ = 0;
  uint64_t doorbells_ = 0, notifications_ = 0, ga_log_posts_ = 0, ga_log_drops_ = 0;
  uint64_t quiet_posts_ = 0;
  uint64_t ga_log_handler_runs_ = 0, wakeup_handler_runs_ = 0, other_handler_runs_ = 0;
  uint64_t vcpus_scanned_ = 0;
  cost::Ns handler_ns_ = 0, max_handler_ns_ = 0;
  std::vector<uint64_t> wakeup_irqs_per_cpu_;
  // BeforeHandler's snapshot.
  uint32_t queue_length_before_ = 0;
  uint64_t woken_before_ = 0;
  uint32_t ga_log_queued_before_ = 0;
  uint64_t rescan_checks_before_ = 0;
  uint32_t ga_log_fill_traced_ = 0;  // the trace: the GA log fill last shown
  cost::Ns handler_start_ = 0;
  std::string handler_name_;
  std::vector<std::string> failures_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_HOST_H_
