// SPDX-License-Identifier: MIT
// One simulated arm64 VM with a GICv5 guest: the IRS (here hw::fake::FakeGicv5Irs under the
// shipped VDRCFG/VDPEND backend) keeps each virtual SPI's state and the guest acknowledges and
// deactivates without exits. What is left for the hypervisor, and what calls what:
//
//   device edge / line            VgicV5::Inject(id, level)      (GIC VDPEND)
//   before entering the guest     VgicV5::FlushPpis(vcpu, ppis)
//   on every exit                 VgicV5::Fold(vcpu, ppis)       (PPIs, then the SPI fold that
//                                                                 runs the notifiers)
//   level SPI deactivated         the deactivation notifier unmasks the device (resample)
//
// Devices: edge SPIs, and level SPIs behind a resampler. Some guest drivers (SPIs 56..63)
// discard their SPI's pending state (GIC CDPEND) when they take it and service one work item;
// with more work left the line is still high, and the hypervisor must make the SPI pending
// again at its next fold, or the guest never sees it. The host checks that every raise merges
// only into a pending state the IRS holds (or a high line), that an edge owed stays pending in
// the IRS, and that the oldest undelivered SPI is younger than a bound from the cost model.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_GICV5_HOST_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_GICV5_HOST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "examples/host_sim/event_loop.h"
#include "examples/host_sim/ledger.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/trace.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "hw/fake/fake_gicv5_irs.h"
#include "hw/fake/logical_platform.h"
#include "hw/gicv5_ppi_state.h"
#include "irqvirt/vgic/vgic_v5.h"

namespace host_sim {

class Gicv5Host {
 public:
  using VgicV5 = irqvirt::vgic::VgicV5<hw::fake::LogicalPlatform>;

  Gicv5Host(const SimOptions& options, EventLoop& loop, Trace& trace);
  absl::Status Init();
  void Start();
  void Finish(Report& report);
  bool failed() const { return !failures_.empty(); }

 private:
  struct Vcpu {
    hw::Gicv5PpiState ppis;
    bool take_scheduled = false;
    cost::Ns busy_until = 0;
    int host_track = -1, irq_track = -1;
  };
  struct LevelDevice {
    uint64_t work = 0;
    bool line = false;
    bool masked = false;
  };

  static void OnDeactivated(void* context, uint32_t id);
  void GuestTake(uint16_t vpe);
  void ScheduleTake(uint16_t vpe);
  void VcpuExit(uint32_t vcpu);
  void RaiseEdge(uint32_t id);
  void LevelWork(uint32_t id, uint64_t items);
  void AssertLine(uint32_t id);
  void SetLine(uint32_t id, bool level);
  bool DiscardsPending(uint32_t id) const;
  void Watchdog();
  cost::Ns RaiseBound() const;
  std::string Story(uint32_t id) const;
  void NextSpi(std::mt19937_64& rng, cost::Ns t);
  void NextTick(uint32_t vcpu, cost::Ns t);
  uint16_t Target(uint32_t id) const;
  bool IsLevel(uint32_t id) const;
  void Failure(std::string what);

  static constexpr uint16_t kVmId = 1;

  const SimOptions options_;
  EventLoop& loop_;
  Trace& trace_;
  const cost::Ns end_of_traffic_;
  hw::fake::LogicalPlatform platform_;
  hw::fake::FakeGicv5Irs irs_;
  hw::arm::Gicv5VirtualSpisBackend<hw::fake::FakeGicv5Irs> backend_;
  std::unique_ptr<VgicV5> vgic_;
  std::vector<Vcpu> vcpus_;
  std::map<uint32_t, LevelDevice> level_devices_;
  std::vector<std::shared_ptr<std::mt19937_64>> streams_;

  InterruptLedger ledger_{"arm64 GICv5 SPIs"};
  StoryLog stories_;  // by SPI ID
  int pid_ = -1, device_track_ = -1, irs_track_ = -1;
  TraceNames irq_names_, spi_names_, work_names_, vdpend_names_;
  uint64_t exits_ = 0, notifications_ = 0, guest_discards_ = 0, discarded_with_line_high_ = 0;
  cost::Ns fold_ns_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_GICV5_HOST_H_
