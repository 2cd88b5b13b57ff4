// SPDX-License-Identifier: MIT
// Stories a hypervisor's arm64 guest lives through, asserted on what the guest observes on the
// fake virtual CPU interface (and on the fake physical GIC for HW-mapped interrupts). Every story
// runs on the GICv3 backend and on the GICv2 backend (a GICv2 guest): the harness each test
// builds takes the suite's backend parameter.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using hw::fake::kSpuriousIntid;

constexpr uint32_t kSpi = 32;

IrqConfig Edge(uint8_t priority, uint8_t group = 1) {
  return {.enabled = true, .priority = priority, .group = group, .trigger = Trigger::kEdge};
}
IrqConfig Level(uint8_t priority) {
  return {.enabled = true, .priority = priority, .group = 1, .trigger = Trigger::kLevel};
}

class VgicScenario : public ::testing::TestWithParam<Backend> {
 private:
  ScopedDefaultBackend backend_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Backends, VgicScenario,
                         ::testing::Values(Backend::kGicV3, Backend::kGicV2, Backend::kGicV3NoTdir,
                                           Backend::kGicV3TrapAll),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

// Registers a notifier for `spi` that counts its calls in `*count`.
void CountNotifications(VgicHarness& h, uint32_t spi, int* count) {
  ASSERT_TRUE(h.vgic()
                  .SetDeactivationNotifier(
                      spi, [](void* c, uint32_t) { ++*static_cast<int*>(c); }, count)
                  .ok());
}

void ExpectIdle(VgicHarness& h, uint32_t num_intids) {
  for (uint32_t v = 0; v < h.num_vcpus(); ++v) {
    for (uint32_t intid = 0; intid < num_intids; ++intid) {
      const auto s = h.vgic().Snapshot(v, intid);
      ASSERT_TRUE(s.ok());
      EXPECT_FALSE(s->active) << "vCPU " << v << " INTID " << intid;
      EXPECT_FALSE(s->pending_latch) << "vCPU " << v << " INTID " << intid;
    }
    EXPECT_EQ(h.vgic().ApListLength(v), 0u) << "vCPU " << v;
  }
  EXPECT_EQ(h.vgic().spis_in_flight(), 0u);
  EXPECT_EQ(h.total_livelocks(), 0u);
  EXPECT_TRUE(h.platform().violations().empty());
}

// Nested preemption, as in KVM's selftest: N SPIs with rising priority, each acknowledged
// before the next is injected, so N are active at once with only 4 LRs.
std::vector<uint32_t> NestN(VgicHarness& h, uint32_t n) {
  std::vector<uint32_t> acked;
  for (uint32_t i = 0; i < n; ++i) {
    h.Configure(0, kSpi + i, Edge(static_cast<uint8_t>(0xf0 - 8 * i)));
    h.Inject(0, kSpi + i, true);
    const uint32_t got = h.guest(0).Acknowledge(1);
    EXPECT_EQ(got, kSpi + i) << "a higher-priority interrupt preempts";
    acked.push_back(got);
  }
  return acked;
}

TEST_P(VgicScenario, MoreActiveThanLrsWithEoiMode0AllComplete) {
  VgicHarness h({.num_list_registers = 4});
  h.Enter(0);
  const std::vector<uint32_t> acked = NestN(h, 24);
  EXPECT_EQ(h.guest(0).num_acknowledged_not_eoied(), 24);
  const uint64_t exits_before = h.total_exits();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(h.guest(0).EoiNewest(), acked[23 - i]);
  h.Exit(0);
  // Where every ICV_* access traps, each EOI is an exit of its own as well.
  const uint64_t trapped_eois = h.backend() == Backend::kGicV3TrapAll ? 24 : 0;
  EXPECT_LE(h.total_exits() - exits_before, 24u + trapped_eois)
      << "a bounded number of exits per EOI";
  ExpectIdle(h, 64);
  EXPECT_EQ(h.cpu(0).RunningPriority(), 0xff);
}

TEST_P(VgicScenario, EoiMode0EoisOutsideTheLrsBeforeTheMaintenanceInterruptIsTaken) {
  // The guest EOIs all 24 before the vCPU exits: 20 of them were in no LR and are known only
  // through EOIcount, which the exit's fold must turn into exactly those 20 deactivations.
  VgicHarness h({.num_list_registers = 4});
  h.Enter(0);
  NestN(h, 24);
  h.vcpu(0).defer_exits = true;
  for (int i = 0; i < 24; ++i) h.guest(0).EoiNewest();
  if (h.backend() != Backend::kGicV3TrapAll) {  // there every EOI exits and is folded at once
    EXPECT_TRUE(h.cpu(0).maintenance_interrupt());
    EXPECT_EQ(h.cpu(0).hcr().eoicount(), 20u);
  }
  h.Exit(0);
  // Where every EOI traps, each exit re-enters with the newest active interrupts in the LRs, so
  // every EOI finds its LR.
  EXPECT_EQ(h.vgic().stats(0).eoicount_deactivations,
            h.backend() == Backend::kGicV3TrapAll ? 0u : 20u);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, LateMaintenanceInterruptDeactivatesWhatTheGuestEoied) {
  // gic.md §3.8 [FIX]: the guest EOIs an interrupt outside the LRs and, before the MI is taken,
  // acknowledges one that was pending in an LR. EOIcount must be spent on the interrupt that
  // was outside the LRs, not on the newly active one.
  VgicHarness h({.num_list_registers = 2});
  h.Enter(0);
  NestN(h, 5);  // 32..36 active (0xf0 .. 0xd0); the LRs hold 36 and 35
  h.Configure(0, kSpi + 10, Edge(0xc0));
  h.Inject(0, kSpi + 10, true);  // re-entry: LRs = [42 pending, 36 active]
  h.vcpu(0).defer_exits = true;
  EXPECT_EQ(h.guest(0).EoiNewest(), kSpi + 4);  // in an LR
  EXPECT_EQ(h.guest(0).EoiNewest(), kSpi + 3);  // outside: EOIcount = 1
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpi + 10);  // 0xc0 preempts 34's 0xe0
  h.Exit(0);
  EXPECT_FALSE(h.vgic().Snapshot(0, kSpi + 3)->active);
  EXPECT_FALSE(h.vgic().Snapshot(0, kSpi + 4)->active);
  EXPECT_TRUE(h.vgic().Snapshot(0, kSpi + 10)->active) << "acknowledged, never EOIed";
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(h.vgic().Snapshot(0, kSpi + i)->active);
}

TEST_P(VgicScenario, MoreActiveThanLrsWithEoiMode1AndDirsInAnyOrder) {
  VgicHarness h({.num_list_registers = 4, .eoi_mode_split = true});
  h.Enter(0);
  NestN(h, 20);
  for (int i = 0; i < 20; ++i) h.guest(0).EoiNewest();  // priority drops only
  EXPECT_EQ(h.guest(0).num_waiting_for_dir(), 20);
  EXPECT_EQ(h.cpu(0).RunningPriority(), 0xff);
  // Deactivate in an order unlike the acknowledge order: odd positions from the newest, then
  // the rest from the oldest.
  while (h.guest(0).num_waiting_for_dir() > 0) {
    const int n = h.guest(0).num_waiting_for_dir();
    h.guest(0).DeactivateWaiting(n % 2 == 1 ? n - 1 : 0);
  }
  h.Exit(0);
  const VgicVcpuStats s = h.vgic().stats(0);
  EXPECT_GT(s.dir_traps, 0u);
  EXPECT_GT(s.dir_deactivations, 0u);
  EXPECT_LE(s.dir_traps, 20u) << "at most one trap per DIR";
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, DisabledGroupHighPriorityDoesNotBlockEnabledOnes) {
  // KVM's guest_code_group_en: 16 SGIs pending with priorities (i+1)*8, SGI 0 in the disabled
  // Group 0. Group 1's 15 SGIs are delivered; SGI 0 only once Group 0 is enabled.
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 4, .group0_enabled = false});
  for (uint32_t i = 0; i < 16; ++i) {
    h.Configure(0, i, Edge(static_cast<uint8_t>((i + 1) * 8), i == 0 ? 0 : 1));
    ASSERT_TRUE(h.vgic().Inject(0, i, true).ok());
  }
  h.Enter(0);
  std::vector<uint32_t> taken;
  for (;;) {
    const uint32_t intid = h.guest(0).Acknowledge(1);
    if (intid == kSpuriousIntid) break;
    taken.push_back(intid);
    h.guest(0).EoiNewest();
  }
  std::vector<uint32_t> expected;
  for (uint32_t i = 1; i < 16; ++i) expected.push_back(i);
  EXPECT_EQ(taken, expected) << "in priority order, SGI 0 never blocks them";
  EXPECT_EQ(h.guest(0).Acknowledge(0), kSpuriousIntid) << "Group 0 is disabled";
  EXPECT_EQ(h.vgic().Snapshot(0, 0)->on_vcpu_list, 0) << "still pending, still listed";
  h.cpu(0).SetGroupEnable(0, true);
  h.ServiceExits(0);  // the VGrp0E maintenance interrupt
  EXPECT_GT(h.vcpu(0).maintenance_exits, 0u);
  EXPECT_EQ(h.guest(0).Acknowledge(0), 0u);
  h.guest(0).EoiNewest();
  h.Exit(0);
  ExpectIdle(h, 32);
}

TEST_P(VgicScenario, SpiAcknowledgedOnVcpu0DeactivatedOnVcpu1WhileStillInItsLr) {
  VgicHarness h({.num_vcpus = 2, .eoi_mode_split = true});
  h.Configure(0, 40, Edge(0x80));
  ASSERT_TRUE(h.vgic().RouteSpi(40, 0).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 40, true).ok());
  h.Enter(0);
  h.Enter(1);
  EXPECT_TRUE(h.DirTraps(1)) << "an SPI in flight makes every vCPU trap DIR";
  EXPECT_EQ(h.guest(0).Acknowledge(1), 40u);
  h.guest(0).EoiNewest();  // priority drop; vCPU 0 stays in the guest, SPI 40 Active in its LR
  h.guest(1).Dir(40);      // traps on vCPU 1; the SPI sits in vCPU 0's LR
  EXPECT_EQ(h.vgic().stats(1).cross_vcpu_dir_requests, 1u);
  EXPECT_TRUE(h.vcpu(0).kicked) << "vCPU 0 must exit to let go of it";
  h.ServiceExits(0);
  EXPECT_FALSE(h.vgic().Snapshot(0, 40)->active);
  h.Exit(0);
  h.Exit(1);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, SpiAcknowledgedOnVcpu0DeactivatedOnVcpu1AfterVcpu0Exited) {
  VgicHarness h({.num_vcpus = 2, .eoi_mode_split = true});
  h.Configure(0, 41, Level(0x80));
  ASSERT_TRUE(h.vgic().RouteSpi(41, 0).ok());
  int notified = 0;
  CountNotifications(h, 41, &notified);
  ASSERT_TRUE(h.vgic().Inject(0, 41, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 41u);
  h.guest(0).EoiNewest();
  h.Exit(0);  // vCPU 0 blocks, say: SPI 41 active on its list, in no LR
  ASSERT_TRUE(h.vgic().Inject(0, 41, false).ok());  // the device was serviced
  h.Enter(1);
  h.guest(1).Dir(41);
  EXPECT_EQ(h.vgic().stats(1).dir_deactivations, 1u);
  EXPECT_EQ(notified, 1);
  h.Exit(1);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, HwTimerInterruptWhileTheLrsOverflow) {
  // The HW-mapped timer PPI is taken first (lowest priority), then 5 SPIs nest above it with
  // 2 LRs: the timer is deactivated outside the LRs, and its physical INTID exactly once.
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 2});
  constexpr uint32_t kTimer = 27;
  h.Configure(0, kTimer, Level(0xf0));
  ASSERT_TRUE(h.vgic().MapHw(0, kTimer, kTimer).ok());
  h.physical().Activate(kTimer);
  ASSERT_TRUE(h.vgic().Inject(0, kTimer, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), kTimer);
  for (uint32_t i = 0; i < 5; ++i) {
    h.Configure(0, kSpi + i, Edge(static_cast<uint8_t>(0x80 - 8 * i)));
    h.Inject(0, kSpi + i, true);
    EXPECT_EQ(h.guest(0).Acknowledge(1), kSpi + i);
  }
  for (int i = 0; i < 6; ++i) h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_FALSE(h.physical().active(kTimer));
  EXPECT_EQ(h.physical().deactivations(kTimer), 1u);
  EXPECT_EQ(h.physical().spurious_deactivations(), 0u);
  // Re-armed, it fires again and is delivered through an LR (HW = 1).
  h.physical().Activate(kTimer);
  ASSERT_TRUE(h.vgic().Inject(0, kTimer, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), kTimer);
  h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_EQ(h.physical().deactivations(kTimer), 2u);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, LevelInterruptWhoseLineDropsWhileOutsideTheLrs) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 1});
  h.Configure(0, 50, Level(0x90));
  int notified = 0;
  CountNotifications(h, 50, &notified);
  h.Configure(0, 51, Edge(0x10));
  ASSERT_TRUE(h.vgic().Inject(0, 51, true).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 50, true).ok());
  h.Enter(0);  // SPI 51 (higher priority) takes the only LR; 50 waits outside
  EXPECT_EQ(h.vcpu(0).state.used_lrs, 1);
  ASSERT_TRUE(h.vgic().Inject(0, 50, false).ok());  // the line drops
  h.DeliverKicks();
  EXPECT_EQ(h.guest(0).Acknowledge(1), 51u);
  h.guest(0).EoiNewest();
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpuriousIntid) << "SPI 50 is no longer pending";
  h.Exit(0);
  EXPECT_EQ(notified, 0) << "never acknowledged, never deactivated";
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, SpiRetargetedWhileActiveMovesAfterDeactivation) {
  VgicHarness h({.num_vcpus = 2});
  h.Configure(0, 60, Edge(0x40));
  ASSERT_TRUE(h.vgic().RouteSpi(60, 0).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 60, true).ok());
  h.Enter(0);
  h.Enter(1);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 60u);
  ASSERT_TRUE(h.vgic().RouteSpi(60, 1).ok());
  h.Inject(0, 60, true);  // fires again while active: pending and active on vCPU 0
  EXPECT_EQ(h.vgic().Snapshot(0, 60)->on_vcpu_list, 0) << "an active SPI stays where it is";
  EXPECT_EQ(h.guest(1).Acknowledge(1), kSpuriousIntid);
  h.guest(0).EoiNewest();  // deactivated: now only pending, and it belongs to vCPU 1
  h.Exit(0);
  EXPECT_EQ(h.vgic().Snapshot(0, 60)->on_vcpu_list, 1);
  h.DeliverKicks();
  EXPECT_EQ(h.guest(1).Acknowledge(1), 60u);
  h.guest(1).EoiNewest();
  h.Exit(1);
  EXPECT_EQ(h.vgic().stats(0).migrations, 1u);
  ExpectIdle(h, 64);
}

struct NotifierProbe {
  VgicHarness* h;
  int calls = 0;
  bool reinject = false;
};

TEST_P(VgicScenario, NotifierOncePerDeactivatedLevelInterruptAndNeverUnderALock) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 2});
  h.Configure(0, 70, Level(0x60));
  NotifierProbe probe{&h};
  // The notifier calls back into the vGIC (the resample pattern): with any vGIC lock held on
  // this CPU the fake platform would record a deadlock.
  ASSERT_TRUE(h.vgic()
                  .SetDeactivationNotifier(
                      70,
                      [](void* c, uint32_t intid) {
                        auto* p = static_cast<NotifierProbe*>(c);
                        ++p->calls;
                        EXPECT_TRUE(p->h->vgic().Inject(0, intid, p->reinject).ok());
                      },
                      &probe)
                  .ok());
  // Acknowledged and deactivated within one run: the core never saw it active.
  ASSERT_TRUE(h.vgic().Inject(0, 70, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 70u);
  h.guest(0).EoiNewest();  // the EOI maintenance interrupt exits and re-enters
  EXPECT_EQ(probe.calls, 1);
  // The line is still high after the notification lowered and raised it: delivered again.
  probe.reinject = false;
  ASSERT_TRUE(h.vgic().Inject(0, 70, true).ok());
  h.DeliverKicks();
  EXPECT_EQ(h.guest(0).Acknowledge(1), 70u);
  h.guest(0).EoiNewest();
  EXPECT_EQ(probe.calls, 2);
  h.Exit(0);
  EXPECT_TRUE(h.platform().violations().empty())
      << h.platform().violations().front();
  // Removal: no further calls.
  ASSERT_TRUE(h.vgic().RemoveDeactivationNotifier(70).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 70, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 70u);
  ASSERT_TRUE(h.vgic().Inject(0, 70, false).ok());
  h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_EQ(probe.calls, 2);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, NotifierForLevelInterruptDeactivatedOutsideTheLrs) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 1});
  h.Configure(0, 80, Level(0xe0));
  int notified = 0;
  CountNotifications(h, 80, &notified);
  ASSERT_TRUE(h.vgic().Inject(0, 80, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 80u);
  ASSERT_TRUE(h.vgic().Inject(0, 80, false).ok());
  for (uint32_t i = 0; i < 3; ++i) {  // three more nest above it; it leaves the only LR
    h.Configure(0, kSpi + i, Edge(static_cast<uint8_t>(0x80 - 8 * i)));
    h.Inject(0, kSpi + i, true);
    EXPECT_EQ(h.guest(0).Acknowledge(1), kSpi + i);
  }
  for (int i = 0; i < 4; ++i) h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_EQ(notified, 1);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, DistributorDisabledAndEnabledAgainLosesNothing) {
  VgicHarness h({.num_vcpus = 2});
  h.Configure(0, 40, Edge(0x80));
  h.Configure(0, 41, Level(0x90));
  ASSERT_TRUE(h.vgic().RouteSpi(41, 1).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 40, true).ok());
  ASSERT_TRUE(h.vgic().Inject(0, 41, true).ok());
  h.vgic().SetDistributorEnabled(false);
  h.Enter(0);
  h.Enter(1);
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpuriousIntid) << "the distributor is off";
  EXPECT_FALSE(h.vgic().HasPendingIrq(1));
  h.vgic().SetDistributorEnabled(true);
  h.DeliverKicks();
  EXPECT_TRUE(h.vgic().HasPendingIrq(1));
  EXPECT_EQ(h.guest(0).Acknowledge(1), 40u);
  EXPECT_EQ(h.guest(1).Acknowledge(1), 41u);
  h.guest(0).EoiNewest();
  ASSERT_TRUE(h.vgic().Inject(0, 41, false).ok());
  h.guest(1).EoiNewest();
  h.Exit(0);
  h.Exit(1);
  ExpectIdle(h, 64);
}

// WFI: a pending interrupt counts only if the guest could take it, and the CPU interface compares
// only its implemented priority bits. With the mask at 0x85 (5 bits: 0x80), priority 0x80 is
// masked; the vCPU must block rather than spin through WFI.
TEST_P(VgicScenario, WfiComparesOnlyTheImplementedPriorityBits) {
  VgicHarness h({.num_vcpus = 1});
  h.vcpu(0).state.vmcr = hw::arm::IchVmcr::FromRaw(h.vcpu(0).state.vmcr).set_vpmr(0x85).raw();
  h.Configure(0, 40, Edge(0x80));
  h.Inject(0, 40, true);
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpuriousIntid) << "0x80 is not above the mask";
  h.Exit(0);
  EXPECT_FALSE(h.vgic().HasPendingIrq(0));
  h.Configure(0, 41, Edge(0x78));
  h.Inject(0, 41, true);
  EXPECT_TRUE(h.vgic().HasPendingIrq(0));
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 41u);
}

TEST_P(VgicScenario, PendingSpiReroutedMovesBeforeTheOldVcpuRuns) {
  VgicHarness h({.num_vcpus = 2});
  h.Configure(0, 45, Edge(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 45, true).ok());  // routed to vCPU 0 at reset
  ASSERT_TRUE(h.vgic().RouteSpi(45, 1).ok());
  EXPECT_TRUE(h.vgic().HasPendingIrq(0) == false) << "it no longer targets vCPU 0";
  h.Enter(0);  // vCPU 0's flush hands it over
  EXPECT_EQ(h.vgic().Snapshot(0, 45)->on_vcpu_list, 1);
  h.Enter(1);
  EXPECT_EQ(h.guest(1).Acknowledge(1), 45u);
  h.guest(1).EoiNewest();
  h.Exit(0);
  h.Exit(1);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, HwLevelInterruptSurvivesAnExitBeforeTheGuestTakesIt) {
  // The timer fired (its physical twin is active) and sits Pending in an LR when the vCPU exits
  // for something else: it must still be there at the next entry, or the timer is dead.
  VgicHarness h({.num_vcpus = 1});
  constexpr uint32_t kTimer = 27;
  h.Configure(0, kTimer, Level(0x80));
  ASSERT_TRUE(h.vgic().MapHw(0, kTimer, kTimer).ok());
  h.physical().Activate(kTimer);
  ASSERT_TRUE(h.vgic().Inject(0, kTimer, true).ok());
  h.Enter(0);
  h.Exit(0);  // an MMIO exit, say; the guest had interrupts masked
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), kTimer);
  h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_EQ(h.physical().deactivations(kTimer), 1u);
  ExpectIdle(h, 32);
}

TEST_P(VgicScenario, RerouteHandsAPendingSpiOverAtOnce) {
  // The old vCPU may sleep in WFI and never flush again: RouteSpi moves the entry itself.
  VgicHarness h({.num_vcpus = 2});
  for (uint32_t v = 0; v < 2; ++v) {  // both ran (and now wait in WFI): their PMR is known
    h.Enter(v);
    h.Exit(v);
  }
  h.Configure(0, 46, Edge(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 46, true).ok());
  EXPECT_TRUE(h.vgic().HasPendingIrq(0));
  ASSERT_TRUE(h.vgic().RouteSpi(46, 1).ok());
  EXPECT_EQ(h.vgic().Snapshot(0, 46)->on_vcpu_list, 1);
  EXPECT_FALSE(h.vgic().HasPendingIrq(0));
  EXPECT_TRUE(h.vgic().HasPendingIrq(1));
  EXPECT_TRUE(h.vcpu(1).kicked);
}

TEST_P(VgicScenario, TriggerAndHwMappingDoNotChangeUnderAnInterruptInFlight) {
  VgicHarness h({.num_vcpus = 1});
  h.Configure(0, 47, Edge(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 47, true).ok());
  EXPECT_EQ(h.vgic().ConfigureIrq(0, 47, Level(0x80)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h.vgic().MapHw(0, 47, 47).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(h.vgic().ConfigureIrq(0, 47, Edge(0x40)).ok()) << "priority may change";
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 47u);
  h.guest(0).EoiNewest();
  h.Exit(0);
  EXPECT_TRUE(h.vgic().ConfigureIrq(0, 47, Level(0x80)).ok()) << "idle again";
  EXPECT_EQ(h.vgic().Snapshot(0, 47)->trigger, Trigger::kLevel);
  ExpectIdle(h, 64);
}

TEST_P(VgicScenario, BadHostArgumentsAreErrorsAndGuestGarbageIsIgnored) {
  VgicHarness h({.num_vcpus = 2, .num_spis = 64, .eoi_mode_split = true});
  EXPECT_EQ(h.vgic().Inject(0, 96, true).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(h.vgic().Inject(2, 5, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().RouteSpi(40, 7).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().RouteSpi(20, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().ConfigureIrq(0, 3, Level(0x10)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().SetDeactivationNotifier(20, [](void*, uint32_t) {}, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  hw::VgicCpuState s;
  EXPECT_FALSE(h.vgic().Flush(9, s).ok());
  EXPECT_FALSE(h.vgic().Fold(9, s).ok());
  EXPECT_FALSE(h.vgic().HandleDirTrap(9, 40).ok());
  // Guest garbage through a trapped DIR: ignored, nothing changes.
  h.Configure(0, 40, Edge(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 40, true).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 40u);
  for (uint32_t junk : {0xffffffffu, 1020u, 96u, 41u, 5u}) {
    EXPECT_TRUE(h.vgic().HandleDirTrap(1, junk).ok());
  }
  h.Exit(0);
  EXPECT_TRUE(h.vgic().Snapshot(0, 40)->active) << "garbage deactivated nothing";
  EXPECT_EQ(h.vgic().ApListLength(0), 1u);
  auto too_many = TestVgic::Create(h.platform(), {.num_list_registers = 17});
  EXPECT_FALSE(too_many.ok());
  auto odd_spis = TestVgic::Create(h.platform(), {.num_spis = 33});
  EXPECT_FALSE(odd_spis.ok());
  auto bad_shape = TestVgic::Create(h.platform(), {.cpu_interface = {.preemption_bits = 8}});
  EXPECT_EQ(bad_shape.status().code(), absl::StatusCode::kInvalidArgument);
}

// An implementation that counts EOImode 1 priority drops in EOIcount (QEMU 7.2's model does, for
// an EOIR that finds no LR; IHI 0069 counts only what would have been deactivated): a guest that
// stayed in EOImode 1 has deactivated nothing through EOIR, so the count must not deactivate the
// active interrupts outside the LRs before the guest's DIRs do.
TEST(VgicScenarioGicV3, EoiCountOfAGuestInEoiMode1ThroughoutDeactivatesNothing) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 4, .eoi_mode_split = true});
  h.Enter(0);
  NestN(h, 6);  // 6 active; the LRs hold the 4 newest, 32 and 33 are outside
  h.vcpu(0).defer_exits = true;
  for (int i = 0; i < 6; ++i) h.guest(0).EoiNewest();  // priority drops only
  auto hcr = hw::arm::IchHcr::FromRaw(h.cpu(0).Read(hw::arm::kIchHcrEl2));
  ASSERT_TRUE(hcr.lrenpie()) << "active interrupts outside the LRs";
  ASSERT_EQ(hcr.eoicount(), 0u) << "the fake follows IHI 0069";
  // As QEMU counts them: the two EOIRs that found no LR.
  h.cpu(0).Write(hw::arm::kIchHcrEl2, hcr.set_eoicount(2).raw());
  h.Exit(0);
  EXPECT_EQ(h.vgic().stats(0).eoicount_deactivations, 0u);
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(h.vgic().Snapshot(0, kSpi + i)->active) << "INTID " << kSpi + i << " awaits its DIR";
  }
  h.vcpu(0).defer_exits = false;
  h.Enter(0);
  while (h.guest(0).num_waiting_for_dir() > 0) h.guest(0).DeactivateWaiting(0);
  h.Exit(0);
  EXPECT_EQ(h.vgic().stats(0).dir_deactivations, 6u) << "each DIR trapped and deactivated one";
  ExpectIdle(h, 64);
}

// GICv3 register values; tests/vgic/gicv2_scenario_test.cc has the GICv2 twin.
TEST(VgicScenarioGicV3, BackendMovesEveryRegisterTheCoreComputes) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 4});
  h.Configure(0, 40, Level(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 40, true).ok());
  h.Enter(0);
  // The LR in the fake is what the core computed: vINTID 40, pending, group 1, EOI, 0x80.
  // Hand-computed: state 01 (bit 62) | group bit 60 | 0x80 << 48 | EOI bit 41 | 0x28.
  EXPECT_EQ(h.cpu(0).lr(0), 0x5080020000000028u);
  EXPECT_EQ(h.cpu(0).hcr().raw(), h.vcpu(0).state.hcr);
  EXPECT_TRUE(h.cpu(0).hcr().en());
  EXPECT_EQ(h.cpu(0).bad_accesses(), 0u);
  h.Exit(0);
  EXPECT_EQ(h.cpu(0).lr(0), 0u) << "save zeroes the used LRs";
  EXPECT_EQ(h.cpu(0).hcr().raw(), 0u);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
