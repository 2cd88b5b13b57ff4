// SPDX-License-Identifier: MIT
// One simulated arm64 VM with GICv3 guests: irqvirt's vGIC core (irqvirt/vgic/vgic.h) over the
// real GICv3 backend, which runs on the fake virtual CPU interface (hw/fake), and a guest model
// (hw/fake/gic_guest.h) that acknowledges, EOIs and deactivates. Which exit calls what:
//
//   before entering the guest     Vgic::Flush(vcpu, state); backend.Restore(state)
//   on every exit                 backend.Save(state); Vgic::Fold(vcpu, state)
//   trapped ICV_DIR_EL1 write     (after the fold) Vgic::HandleDirTrap(vcpu, value)
//   WFI                           block unless Vgic::HasPendingIrq(vcpu)
//   device edge / line            Vgic::Inject(0, intid, level)   (kick: exit or wake the vCPU)
//   level SPI deactivated         the deactivation notifier unmasks the device (resample)
//
// The maintenance interrupt needs no handler: it only forces the exit; Fold does the work.
// Half the vCPUs' guests run EOImode 0, half EOImode 1 (priority drop, then DIR, sometimes on
// another vCPU); both keep more interrupts in flight than there are list registers. Devices:
// edge SPIs, which now and then complete a batch (more SPIs for one vCPU at once than it has
// LRs, with one kick between them: only NPIE refills the LRs); level SPIs behind an irqfd-style
// resampler (the notifier unmasks them); and plain level SPIs whose driver services one work
// item per interrupt, leaving the line high, so that the vGIC must resample it at the fold.
//
// The host checks as it goes: a raise merges only into a pending state the hardware holds (an
// LR in Pending, the vGIC's latch, a high line); an edge the vGIC owes must stay pending
// somewhere; a guest that reads a spurious IAR while a takeable interrupt waits outside its LRs
// with nothing (maintenance interrupt, kick) to bring it in is stranded; and the oldest
// undelivered interrupt must be younger than a bound derived from the cost model.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_ARM64_HOST_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_ARM64_HOST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "examples/host_sim/event_loop.h"
#include "examples/host_sim/ledger.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/trace.h"
#include "hw/arm/gicv3_cpu_interface.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/fake/fake_physical_gic.h"
#include "hw/fake/gic_guest.h"
#include "hw/fake/logical_platform.h"
#include "hw/vgic_cpu_state.h"
#include "irqvirt/vgic/vgic.h"

namespace host_sim {

class Arm64Host {
 public:
  using Vgic = irqvirt::vgic::Vgic<hw::fake::LogicalPlatform>;

  Arm64Host(const SimOptions& options, EventLoop& loop, Trace& trace);
  absl::Status Init();
  void Start();
  void Finish(Report& report);
  bool failed() const { return !failures_.empty(); }

 private:
  // One vCPU: its CPU interface, the backend over it, its saved state and its guest. It is the
  // guest's "host" too: a trapped DIR or an asserted maintenance interrupt exits to it.
  struct Vcpu : hw::fake::GicGuest::Host {
    Vcpu(Arm64Host& host, uint32_t id, int lrs);
    void DirTrapped(uint32_t value) override;
    uint64_t SysRegTrapped(hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) override;
    void AfterGuestOperation() override;

    Arm64Host& host;
    uint32_t id;
    hw::fake::FakeGicV3CpuInterface cpu;
    hw::arm::GicV3CpuInterface<hw::fake::FakeGicV3CpuInterface> backend;
    hw::fake::GicGuest guest;
    hw::VgicCpuState state;
    bool eoi_mode_split = false;
    bool in_guest = false;
    bool kicked = false;
    bool run_scheduled = false;
    bool handler_running = false;  // the guest's handler for the newest interrupt is running
    uint64_t idle_epoch = 0;       // invalidates a stale WFI
    cost::Ns busy_until = 0;       // host work charged to this vCPU
    cost::Ns state_since = 0;      // the trace: in the guest, or asleep in WFI, since
    bool asleep = false;
    int max_in_flight = 0;
    int track = -1, irq_track = -1, host_track = -1;
    uint32_t ap_list_traced = 0;
  };
  struct LevelDevice {
    uint64_t work = 0;
    bool line = false;    // the line as the device drives it
    bool masked = false;  // resampled devices: masked from assert until the notifier
    bool left_high = false;  // its last interrupt left the line high at deactivation
  };

  static void Kick(void* context, uint32_t vcpu);
  static void OnDeactivated(void* context, uint32_t intid);

  void Enter(Vcpu& v);
  void Exit(Vcpu& v);
  void ServiceExits(Vcpu& v);
  void ScheduleRun(Vcpu& v);
  void GuestRun(Vcpu& v);
  void AckLoop(Vcpu& v);
  void HandlerDone(Vcpu& v);
  void Deactivate(Vcpu& v);
  void Wfi(Vcpu& v, uint64_t epoch);
  void Handle(Vcpu& v, uint32_t intid);
  // Host work on v's pCPU; `name` (an interned trace name, or -1) names its slice.
  cost::Ns Charge(Vcpu& v, cost::Ns ns, int name);
  void SetAsleep(Vcpu& v, bool asleep);
  void RaiseEdge(uint32_t intid);
  void LevelWork(uint32_t intid, uint64_t items);
  void SetLine(uint32_t intid, bool level);
  void NextSpi(std::mt19937_64& rng, cost::Ns t);
  bool IsLevel(uint32_t intid) const;
  bool IsResampled(uint32_t intid) const;
  uint32_t TargetOf(uint32_t intid) const;
  // The oracle.
  bool EdgePendingHeld(uint32_t intid);
  bool TakeableLrPending(Vcpu& v);
  void CheckStrandedOutsideLrs(Vcpu& v);
  void Watchdog();
  cost::Ns RaiseBound() const;
  std::string Story(uint32_t intid) const;
  void Failure(std::string what);

  const SimOptions options_;
  EventLoop& loop_;
  Trace& trace_;
  const cost::Ns end_of_traffic_;
  hw::fake::LogicalPlatform platform_;
  hw::fake::FakePhysicalGic physical_;
  std::unique_ptr<Vgic> vgic_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::map<uint32_t, LevelDevice> level_devices_;
  std::map<uint32_t, uint64_t> last_listed_flow_;  // the trace: raises already shown in an LR
  std::vector<std::shared_ptr<std::mt19937_64>> streams_;
  uint32_t handovers_ = 0;  // counter that picks every third DIR for another vCPU
  uint32_t next_burst_vcpu_ = 0;
  int pid_ = -1, device_track_ = -1;
  TraceNames irq_names_, spi_names_, work_names_, flush_names_, fold_names_;

  InterruptLedger ledger_{"arm64 GICv3 SPIs"};
  StoryLog stories_;  // by INTID
  uint64_t exits_ = 0, kick_exits_ = 0, bursts_ = 0;
  uint64_t livelocks_ = 0, wfi_blocks_ = 0, wakes_ = 0, spurious_wakeups_ = 0;
  uint64_t cross_vcpu_dirs_ = 0, notifications_ = 0, in_flight_over_lrs_ = 0;
  uint64_t mi_np_ = 0, mi_u_ = 0, mi_lrenp_ = 0, mi_eoi_ = 0;
  uint64_t lines_left_high_ = 0, resampled_redeliveries_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_ARM64_HOST_H_
