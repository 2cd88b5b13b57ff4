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
// another vCPU); both keep more interrupts in flight than there are list registers.
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

  Arm64Host(const SimOptions& options, EventLoop& loop);
  absl::Status Init();
  void Start();
  void Finish(Report& report);

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
    int max_in_flight = 0;
  };
  struct LevelDevice {
    uint64_t work = 0;
    bool masked = false;  // the line is up, or waits for the deactivation notifier
  };

  static void Kick(void* context, uint32_t vcpu);
  static void OnDeactivated(void* context, uint32_t intid);

  void Enter(Vcpu& v);
  void Exit(Vcpu& v);
  void ServiceExits(Vcpu& v);
  void ScheduleRun(Vcpu& v);
  void GuestRun(Vcpu& v);
  void HandlerDone(Vcpu& v);
  void Deactivate(Vcpu& v);
  void Wfi(Vcpu& v, uint64_t epoch);
  void Handle(uint32_t intid);
  void Charge(Vcpu& v, cost::Ns ns);
  void RaiseEdge(uint32_t intid);
  void LevelWork(uint32_t intid);
  void AssertLine(uint32_t intid);
  void NextSpi(std::mt19937_64& rng, cost::Ns t);
  bool IsLevel(uint32_t intid) const;
  void Failure(std::string what);

  const SimOptions options_;
  EventLoop& loop_;
  const cost::Ns end_of_traffic_;
  hw::fake::LogicalPlatform platform_;
  hw::fake::FakePhysicalGic physical_;
  std::unique_ptr<Vgic> vgic_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::map<uint32_t, LevelDevice> level_devices_;
  std::vector<std::shared_ptr<std::mt19937_64>> streams_;
  uint32_t handovers_ = 0;  // counter that picks every third DIR for another vCPU

  InterruptLedger ledger_{"arm64 GICv3 SPIs"};
  std::map<uint32_t, cost::Ns> first_raised_;
  LatencyStats latency_;
  uint64_t exits_ = 0, kick_exits_ = 0;
  uint64_t livelocks_ = 0, wfi_blocks_ = 0, wakes_ = 0, spurious_wakeups_ = 0;
  uint64_t cross_vcpu_dirs_ = 0, notifications_ = 0, in_flight_over_lrs_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_ARM64_HOST_H_
