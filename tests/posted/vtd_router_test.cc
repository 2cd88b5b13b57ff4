// SPDX-License-Identifier: MIT
// The VT-d router's stories on the fake remapping unit: what the unit posts and notifies as the
// vCPU runs, is preempted, blocks, wakes and migrates; CPU offline; rebinding; invalidation
// failures; interrupts that cannot be posted.
#include <cstdint>

#include "gtest/gtest.h"
#include "irqvirt/posted/guest_msi_route.h"
#include "irqvirt/posted/vtd_posted_router.h"
#include "irqvirt/wakeup/pending.h"
#include "tests/posted/vtd_harness.h"

namespace irqvirt::posted::testing {
namespace {

using hw::fake::VtdDeliveryKind;
// Note: hw::fake::VtdDelivery::vector is the guest vector for posted deliveries; which vector the
// notification used is observed at the CPU (the posted vector's counter, or the wakeup handler).
using wakeup::BlockDecision;

constexpr IrteRef kNic{0x00a0, 3};
constexpr IrteRef kDisk{0x00b8, 7};

class VtdRouterTest : public ::testing::Test {
 protected:
  void Start(VtdHarnessOptions options = {}, uint32_t vcpus = 4) {
    stack_ = std::make_unique<VtdLogicalStack>(options);
    ASSERT_TRUE(h().Init(stack_->platform).ok());
    ASSERT_TRUE(h().AddVcpus(vcpus).ok());
  }
  VtdHarness<>& h() { return stack_->harness; }
  hw::fake::LogicalPlatform& platform() { return stack_->platform; }
  VtdPostedRouter<hw::fake::LogicalPlatform>& router() { return h().router(); }
  uint8_t WakeupVector(VcpuId v) { return h().queues().WakeupVector(v); }
  void ExpectConsistent() {
    EXPECT_TRUE(router().CheckInvariants().ok()) << router().CheckInvariants();
  }

  std::unique_ptr<VtdLogicalStack> stack_;
};

TEST_F(VtdRouterTest, BindWritesAPostedIrteNamingTheVcpusDescriptor) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 1, 0x41).ok());
  const hw::IrteWords w = h().ReadIrte(kNic);
  const auto e = hw::intel::VtdIrtePosted::FromHalves(w.lo, w.hi);
  EXPECT_EQ(e.present(), 1u);
  EXPECT_EQ(e.irte_mode(), 1u);
  EXPECT_EQ(e.urgent(), 0u);
  EXPECT_EQ(e.virtual_vector(), 0x41u);
  EXPECT_EQ(e.pi_desc_address(), h().desc_pa(1));
  EXPECT_EQ(e.source_id(), kNic.device_id);
  EXPECT_EQ(router().OwnerOf(kNic), 1);
  ExpectConsistent();
}

// §5.2.3: PIR bit, ON 0 -> 1, and the posted vector to NDST = the CPU the vCPU runs on.
TEST_F(VtdRouterTest, PostToARunningVcpuSetsPirAndOnAndNotifiesItsCpu) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 2).ok());
  const hw::fake::VtdDelivery d = h().Fire(kNic);
  EXPECT_EQ(d.kind, VtdDeliveryKind::kPostedNotified) << d.fault;
  EXPECT_EQ(d.apic_id, platform().apic_id(2));
  EXPECT_TRUE(h().PirSet(0, 0x41));
  EXPECT_EQ(h().control(0).on(), 1u);
  EXPECT_EQ(h().posted_notifications(2), 1u);
  // A second interrupt before the guest took the first: PIR only (ON already set).
  EXPECT_EQ(h().Fire(kNic).kind, VtdDeliveryKind::kPostedQuiet);
  ExpectConsistent();
}

// The design's point (reference §7e, §7h): load, put, block, unblock and migration change only
// the descriptor, so no IRTE is written and no invalidation is issued.
TEST_F(VtdRouterTest, VcpuTransitionsWriteNoIrteAndIssueNoInvalidation) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Bind(kDisk, 0, 0x42).ok());
  const hw::IrteWords before = h().ReadIrte(kNic);
  const uint64_t flushes = h().iec_invalidations();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(router().Load(0, i).ok());
    ASSERT_TRUE(router().Put(0).ok());
    ASSERT_TRUE(router().Load(0, (i + 1) % 4).ok());
    ASSERT_EQ(router().Block(0, (i + 1) % 4).decision, BlockDecision::kSleep);
    ASSERT_TRUE(router().Unblock(0, i).ok());
  }
  EXPECT_EQ(h().iec_invalidations(), flushes);
  EXPECT_EQ(h().ReadIrte(kNic), before);
}

// Preempted: SN = 1, so the unit sets PIR and sends nothing; the next load makes it visible as
// ON (KVM's after_clear_sn step), which is what the pre-entry PIR sync looks at.
TEST_F(VtdRouterTest, PreemptedVcpuGetsPirWithoutNotificationAndSeesItAfterLoad) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Put(0).ok());
  EXPECT_EQ(h().control(0).sn(), 1u);
  EXPECT_EQ(h().Fire(kNic).kind, VtdDeliveryKind::kPostedQuiet);
  EXPECT_TRUE(h().PirSet(0, 0x41));
  EXPECT_EQ(h().control(0).on(), 0u);
  EXPECT_EQ(h().posted_notifications(1), 0u);
  EXPECT_TRUE(wakeup::PiDescPending::HasPending(&h().desc(0)));
  ASSERT_TRUE(router().Load(0, 3).ok());
  EXPECT_EQ(h().control(0).sn(), 0u);
  EXPECT_EQ(h().control(0).on(), 1u) << "the interrupt posted while preempted is not visible";
  EXPECT_EQ(h().control(0).ndst(), h().Ndst(3));
  ExpectConsistent();
}

// Blocked: parked on CPU 2, NV = the bucket's wakeup vector; the unit sends it to CPU 2 and the
// queues' handler wakes the vCPU; Unblock leaves the queue and restores the posted vector.
TEST_F(VtdRouterTest, BlockedVcpuIsWokenThroughTheWakeupVectorOnItsCpu) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 2).ok());
  ASSERT_EQ(router().Block(0, 2).decision, BlockDecision::kSleep);
  EXPECT_EQ(h().control(0).nv(), WakeupVector(0));
  EXPECT_EQ(h().control(0).ndst(), h().Ndst(2));
  EXPECT_EQ(h().queues().ParkedCpu(0), 2);
  ExpectConsistent();
  const hw::fake::VtdDelivery d = h().Fire(kNic);
  EXPECT_EQ(d.kind, VtdDeliveryKind::kPostedNotified);
  EXPECT_EQ(d.apic_id, platform().apic_id(2));
  EXPECT_EQ(h().posted_notifications(2), 0u) << "the notification used the posted vector";
  EXPECT_EQ(platform().wake_count(0), 1u);
  ASSERT_TRUE(router().Unblock(0, 2).ok());
  EXPECT_EQ(h().queues().ParkedCpu(0), -1);
  EXPECT_EQ(h().control(0).nv(), kVtdPostedVector);
  ExpectConsistent();
}

TEST_F(VtdRouterTest, PreemptedWhileBlockingStaysNotifiable) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Put(0).ok());
  EXPECT_EQ(h().control(0).sn(), 0u);
  h().Fire(kNic);
  EXPECT_EQ(platform().wake_count(0), 1u);
}

// The block window, part 1: an interrupt posted after the vCPU's last guest entry but before NV
// switched notified the posted vector, which wakes nobody. Block's re-check of ON finds it.
TEST_F(VtdRouterTest, InterruptBeforeTheWakeupVectorSwitchIsCaughtByBlock) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  EXPECT_EQ(h().Fire(kNic).kind, VtdDeliveryKind::kPostedNotified);
  EXPECT_EQ(router().Block(0, 1).decision, BlockDecision::kPendingDontSleep);
  EXPECT_EQ(platform().wake_count(0), 0u);  // backed out: the caller does not sleep
  ASSERT_TRUE(router().Unblock(0, 1).ok());
  ExpectConsistent();
}

// The same window when the vCPU blocks straight after a put: the interrupt set PIR only (SN),
// so Block has to turn it into ON before the re-check can see it.
TEST_F(VtdRouterTest, InterruptWhileSuppressedIsCaughtByABlockAfterPut) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Put(0).ok());
  EXPECT_EQ(h().Fire(kNic).kind, VtdDeliveryKind::kPostedQuiet);
  EXPECT_EQ(router().Block(0, 1).decision, BlockDecision::kPendingDontSleep);
}

// KVM's variant of the window: the block path cannot back out, so it self-IPIs the wakeup
// vector and the handler wakes the vCPU.
TEST_F(VtdRouterTest, WithSelfIpiTheWindowsInterruptWakesThroughTheHandler) {
  VtdHarnessOptions o;
  o.self_ipi_when_pending_at_block = true;
  Start(o);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  h().Fire(kNic);
  platform().SetCurrentCpu(1);
  EXPECT_EQ(router().Block(0, 1).decision, BlockDecision::kPendingDontSleep);
  EXPECT_EQ(platform().self_ipis(), 1u);
  EXPECT_EQ(platform().wake_count(0), 1u);
}

// The block window, part 2: parked and told to sleep, an interrupt arrives before the thread
// actually sleeps. The wakeup vector's handler records the wake, so the sleep returns at once.
TEST_F(VtdRouterTest, InterruptBetweenParkingAndSleepingWakesTheVcpu) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 3).ok());
  platform().SetIrqsDisabled(3, true);  // the block path runs with interrupts off
  ASSERT_EQ(router().Block(0, 3).decision, BlockDecision::kSleep);
  h().Fire(kNic);
  EXPECT_EQ(platform().wake_count(0), 0u);
  platform().SetIrqsDisabled(3, false);  // about to sleep: the pending wakeup vector is taken
  EXPECT_EQ(platform().wake_count(0), 1u);
  EXPECT_EQ(platform().spurious_interrupts(), 0u);
}

// Migration: the load on the new CPU moves NDST; a vCPU that blocked on one CPU and is resumed
// on another leaves the first CPU's queue.
TEST_F(VtdRouterTest, MigrationMovesNdstAndLeavesTheOldQueue) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Put(0).ok());
  ASSERT_TRUE(router().Load(0, 3).ok());
  EXPECT_EQ(h().Fire(kNic).apic_id, platform().apic_id(3));
  h().DrainPir(0);
  ASSERT_EQ(router().Block(0, 3).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Unblock(0, 2).ok());
  EXPECT_EQ(h().queues().QueueLength(3, WakeupVector(0)), 0u);
  EXPECT_EQ(h().control(0).ndst(), h().Ndst(2));
  const hw::fake::VtdDelivery d = h().Fire(kNic);
  EXPECT_EQ(d.apic_id, platform().apic_id(2));
  EXPECT_EQ(h().posted_notifications(2), 1u);
  EXPECT_EQ(platform().wake_count(0), 0u);
  ExpectConsistent();
}

// CPU offline with parked vCPUs (Xen's vmx_pi_desc_fixup, reference §4d): they move to an online
// CPU and their NDST follows before the CPU stops taking interrupts; no IRTE is touched.
TEST_F(VtdRouterTest, OfflineCpuMovesParkedVcpusAndTheirNdst) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Bind(kDisk, 1, 0x42).ok());
  for (VcpuId v : {0u, 1u}) {
    ASSERT_TRUE(router().Load(v, 2).ok());
    ASSERT_EQ(router().Block(v, 2).decision, BlockDecision::kSleep);
  }
  const uint64_t flushes = h().iec_invalidations();
  auto moved = router().OfflineCpu(2);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 2u);
  platform().SetOnline(2, false);
  EXPECT_EQ(h().iec_invalidations(), flushes);
  const int target = h().queues().ParkedCpu(0);
  ASSERT_NE(target, 2);
  ASSERT_GE(target, 0);
  EXPECT_EQ(h().control(0).ndst(), h().Ndst(target));
  ExpectConsistent();
  const hw::fake::VtdDelivery d = h().Fire(kNic);
  EXPECT_EQ(d.apic_id, platform().apic_id(target));
  EXPECT_EQ(platform().wake_count(0), 1u);
  h().Fire(kDisk);
  EXPECT_EQ(platform().wake_count(1), 1u);
  EXPECT_EQ(platform().lost_interrupts(), 0u);
  // Parking on the offline CPU is refused and changes nothing.
  ASSERT_TRUE(router().Load(3, 1).ok());
  const BlockOutcome refused = router().Block(3, 2);
  EXPECT_EQ(refused.decision, BlockDecision::kNotParked);
  EXPECT_FALSE(refused.error.ok());
  ExpectConsistent();
}

// An interrupt posted into a parked vCPU just before its CPU goes offline is not lost either:
// OfflineCpu wakes moved vCPUs that have something pending.
TEST_F(VtdRouterTest, OfflineCpuWakesAMovedVcpuWithAPendingInterrupt) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 2).ok());
  ASSERT_EQ(router().Block(0, 2).decision, BlockDecision::kSleep);
  platform().SetIrqsDisabled(2, true);  // CPU 2 is on its way down: the vector stays latched
  h().Fire(kNic);
  ASSERT_TRUE(router().OfflineCpu(2).ok());
  EXPECT_GE(platform().wake_count(0), 1u);
}

// Rebinding moves the IRTE with one write and one IEC flush: afterwards only the new owner's
// descriptor receives, and the IRTE is on the new owner's list only.
TEST_F(VtdRouterTest, RebindNeverLeavesTheIrtePostingIntoTwoDescriptors) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Load(1, 2).ok());
  ASSERT_TRUE(router().Bind(kNic, 1, 0x52).ok());
  EXPECT_EQ(router().OwnerOf(kNic), 1);
  ASSERT_EQ(router().OwnedCount(0), 0u) << "still on the old owner's list";
  ASSERT_EQ(router().OwnedCount(1), 1u);
  for (int i = 0; i < 3; ++i) h().Fire(kNic);
  EXPECT_TRUE(h().PirEmpty(0));
  EXPECT_EQ(h().control(0).on(), 0u);
  EXPECT_TRUE(h().PirSet(1, 0x52));
  EXPECT_EQ(h().posted_notifications(1), 0u);
  EXPECT_EQ(h().posted_notifications(2), 1u);
  ExpectConsistent();
  // And back, the lower id taking the IRTE from the higher one.
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  EXPECT_EQ(router().OwnedCount(1), 0u);
  ExpectConsistent();
}

// The window of a rebind: the IRTE is written, the IEC flush not yet run, and the unit still
// holds the old entry, so a device interrupt then posts into the old owner's descriptor. Nothing
// is lost: that descriptor's NV is the wakeup vector of the queue its blocked owner is parked on,
// so the owner is woken and takes the interrupt. The interrupt at the wait, after the flush,
// reads the new entry.
TEST_F(VtdRouterTest, InterruptBetweenARebindsWriteAndItsFlushWakesTheOldOwner) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  h().Fire(kNic);  // the unit caches the entry
  h().DrainPir(0);
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Load(1, 2).ok());
  h().fake().FireDuringCommandWaits(kNic.device_id, {kNic.index});
  ASSERT_TRUE(router().Bind(kNic, 1, 0x52).ok());
  h().fake().FireDuringCommandWaits(kNic.device_id, {});
  const auto during = h().fake().TakeCommandWaitDeliveries();
  ASSERT_EQ(during.size(), 2u);
  const hw::fake::VtdDelivery& stale = during[0].delivery;
  EXPECT_EQ(stale.kind, VtdDeliveryKind::kPostedNotified) << stale.fault;
  EXPECT_EQ(stale.pi_desc_pa, h().desc_pa(0));
  EXPECT_EQ(stale.vector, 0x41);
  EXPECT_EQ(stale.notification_vector, WakeupVector(0));
  EXPECT_EQ(stale.apic_id, platform().apic_id(1));
  const hw::fake::VtdDelivery& fresh = during[1].delivery;
  EXPECT_EQ(fresh.pi_desc_pa, h().desc_pa(1));
  EXPECT_EQ(fresh.vector, 0x52);
  EXPECT_EQ(fresh.notification_vector, kVtdPostedVector);
  EXPECT_TRUE(h().PirSet(0, 0x41));
  EXPECT_EQ(platform().wake_count(0), 1u) << "the old owner sleeps with an interrupt pending";
  EXPECT_TRUE(h().PirSet(1, 0x52));
  EXPECT_EQ(h().posted_notifications(2), 1u);
  ExpectConsistent();
}

// An invalidation time-out (ITE) during a rebind: the driver puts the old entry back, the router
// keeps the IRTE on the old owner's list, and the error names the vCPU and the IRTE.
TEST_F(VtdRouterTest, InvalidationTimeOutDuringRebindRollsBack) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  const hw::IrteWords before = h().ReadIrte(kNic);
  h().fake().TimeOutNextWait();
  const absl::Status s = router().Bind(kNic, 1, 0x52);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("vCPU 1"), std::string::npos) << s;
  EXPECT_NE(s.message().find("IRTE 0xa0:3"), std::string::npos) << s;
  EXPECT_EQ(router().OwnerOf(kNic), 0);
  EXPECT_EQ(router().OwnedCount(0), 1u);
  EXPECT_EQ(router().OwnedCount(1), 0u);
  EXPECT_EQ(h().ReadIrte(kNic), before);
  ExpectConsistent();
  h().Fire(kNic);
  EXPECT_TRUE(h().PirSet(0, 0x41));
  EXPECT_TRUE(h().PirEmpty(1));
}

TEST_F(VtdRouterTest, RefusedFirstBindLeavesNoBinding) {
  Start();
  h().fake().RefuseNextDescriptor();
  const absl::Status s = router().Bind(kDisk, 2, 0x60);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(router().OwnerOf(kDisk), -1);
  EXPECT_EQ(router().OwnedCount(2), 0u);
  EXPECT_EQ(h().ReadIrte(kDisk), hw::IrteWords{});
  ExpectConsistent();
}

// §7e: a multi-destination (or non-fixed, non-lowest-priority) MSI cannot be posted; it is
// remapped to the host, and a previously posted IRTE is unbound.
TEST_F(VtdRouterTest, InterruptsThatCannotBePostedFallBackToRemapped) {
  Start();
  const HostDelivery host{0x71, platform().apic_id(3)};
  const uint32_t one[] = {2};
  const uint32_t two[] = {1, 2};
  ASSERT_TRUE(
      RouteGuestMsi(router(), kNic, GuestMsi{GuestDeliveryMode::kFixed, one, 0x45}, host).ok());
  EXPECT_EQ(router().OwnerOf(kNic), 2);
  EXPECT_EQ(h().Fire(kNic).kind, VtdDeliveryKind::kPostedQuiet);  // vCPU 2 never ran: SN
  ASSERT_TRUE(
      RouteGuestMsi(router(), kNic, GuestMsi{GuestDeliveryMode::kLowestPriority, two, 0x45}, host)
          .ok());
  EXPECT_EQ(router().OwnerOf(kNic), -1);
  EXPECT_EQ(router().OwnedCount(2), 0u);
  const hw::fake::VtdDelivery d = h().Fire(kNic);
  EXPECT_EQ(d.kind, VtdDeliveryKind::kRemapped) << d.fault;
  EXPECT_EQ(d.vector, 0x71);
  EXPECT_EQ(d.apic_id, platform().apic_id(3));
  ASSERT_TRUE(RouteGuestMsi(router(), kDisk, GuestMsi{GuestDeliveryMode::kNmi, one, 2}, host).ok());
  EXPECT_EQ(h().Fire(kDisk).kind, VtdDeliveryKind::kRemapped);
  EXPECT_TRUE(h().PirEmpty(2) || !h().PirSet(2, 2));
  ExpectConsistent();
}

TEST_F(VtdRouterTest, RemovedVcpuIsNoLongerWokenAndMustOwnNothing) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 1, 0x41).ok());
  EXPECT_EQ(router().RemoveVcpu(1).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(router().Remap(kNic, 0x71, platform().apic_id(0)).ok());
  ASSERT_TRUE(router().RemoveVcpu(1).ok());
  EXPECT_FALSE(router().Load(1, 0).ok());
  EXPECT_EQ(router().Bind(kNic, 1, 0x41).code(), absl::StatusCode::kNotFound);
}

TEST_F(VtdRouterTest, BadInputGetsClearErrorsAndChangesNothing) {
  Start();
  EXPECT_EQ(router().Bind(kNic, 0, 0x0f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router().Bind({0xa0, 4000}, 0, 0x41).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(router().Bind(kNic, 9, 0x41).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  const absl::Status other = router().Bind({0x00c0, kNic.index}, 1, 0x41);
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition) << other;
  EXPECT_EQ(router().Load(0, 7).code, RouteErrorCode::kUnknownCpu);
  EXPECT_EQ(router().Block(0, -1).error.code, RouteErrorCode::kUnknownCpu);
  EXPECT_EQ(router().OwnerOf(kNic), 0);
  ExpectConsistent();
}

TEST(VtdRouterCreate, RefusesAUnitWithoutPosting) {
  VtdHarnessOptions o;
  o.features.posted_interrupts = false;
  VtdLogicalStack s(o);
  const absl::Status st = s.harness.Init(s.platform);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
}

TEST(VtdRouterCreate, XapicDestinationsUseBits15To8OfNdst) {
  VtdHarnessOptions o;
  o.x2apic = false;
  VtdLogicalStack s(o);
  ASSERT_TRUE(s.harness.Init(s.platform).ok());
  ASSERT_TRUE(s.harness.AddVcpus(1).ok());
  ASSERT_TRUE(s.harness.router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(s.harness.router().Load(0, 3).ok());
  EXPECT_EQ(s.harness.control(0).ndst(), uint64_t{s.platform.apic_id(3)} << 8);
  EXPECT_EQ(s.harness.Fire(kNic).apic_id, s.platform.apic_id(3));
}

}  // namespace
}  // namespace irqvirt::posted::testing
