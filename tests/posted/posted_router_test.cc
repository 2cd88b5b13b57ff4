// SPDX-License-Identifier: MIT
// The router's stories, asserted on what the fake IOMMU and the fake platform observed.
#include "irqvirt/posted/posted_router.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/posted/posted_harness.h"

namespace irqvirt::posted::testing {
namespace {

using hw::amd::IrteGaGuest;
using hw::fake::DeliveryKind;
using wakeup::BlockDecision;

constexpr uint16_t kDev = 0x20;
constexpr IrteRef kNic{kDev, 3};
constexpr IrteRef kDisk{kDev, 4};

class RouterTest : public ::testing::Test {
 protected:
  void Start(HarnessOptions options = {}, uint32_t vcpus = 4) {
    stack_ = std::make_unique<LogicalStack>(options);
    ASSERT_TRUE(h().Init(platform()).ok());
    ASSERT_TRUE(h().iommu().AttachDevice(kDev).ok());
    ASSERT_TRUE(h().AddVcpus(vcpus).ok());
  }
  void TearDown() override {
    if (stack_ == nullptr) return;
    EXPECT_TRUE(router().CheckInvariants().ok()) << router().CheckInvariants();
    EXPECT_TRUE(platform().violations().empty()) << platform().violations().front();
    EXPECT_EQ(platform().lost_interrupts(), 0u);
    EXPECT_EQ(h().sink().unknown_destinations(), 0u);
  }
  PostedHarness<>& h() { return stack_->harness; }
  hw::fake::LogicalPlatform& platform() { return stack_->platform; }
  PostedRouter<hw::fake::LogicalPlatform>& router() { return h().router(); }
  uint32_t apic(int cpu) { return platform().apic_id(cpu); }
  IrteGaGuest irte(IrteRef r) { return h().Irte(r); }

  std::unique_ptr<LogicalStack> stack_;
};

// --- GA log mode ---

TEST_F(RouterTest, GaLogModeFollowsTheVcpuThroughLoadPutBlockUnblock) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 1, 0x41).ok());
  EXPECT_EQ(irte(kNic).guest_mode(), 1u);
  EXPECT_EQ(irte(kNic).vector(), 0x41u);
  EXPECT_EQ(irte(kNic).ga_root_ptr(), h().page_pa(1) >> 12);
  EXPECT_EQ(irte(kNic).ga_tag(), hw::amd::GaTag::Make(1, 1)->raw());

  // Running on CPU 2: IRR + doorbell to CPU 2.
  ASSERT_TRUE(router().Load(1, 2).ok());
  EXPECT_EQ(irte(kNic).is_run(), 1u);
  EXPECT_EQ(irte(kNic).destination(), apic(2));
  EXPECT_EQ(irte(kNic).ga_log_intr(), 0u);
  auto d = h().Fire(kNic);
  EXPECT_EQ(d.kind, DeliveryKind::kDoorbell);
  EXPECT_EQ(h().sink().doorbells(2), 1u);
  EXPECT_TRUE(h().IrrSet(1, 0x41));
  h().DrainIrr(1);

  // Preempted (not blocking): IRR only, no log entry, no wake.
  ASSERT_TRUE(router().Put(1).ok());
  EXPECT_EQ(irte(kNic).is_run(), 0u);
  EXPECT_EQ(irte(kNic).ga_log_intr(), 0u);
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kIrrOnly);
  EXPECT_EQ(platform().wake_count(1), 0u);
  h().DrainIrr(1);

  // Blocking: GALogIntr set; the interrupt goes through the log and wakes vCPU 1.
  ASSERT_TRUE(router().Load(1, 2).ok());
  const BlockOutcome b = router().Block(1, 2);
  ASSERT_TRUE(b.error.ok());
  EXPECT_EQ(b.decision, BlockDecision::kSleep);
  EXPECT_EQ(irte(kNic).is_run(), 0u);
  EXPECT_EQ(irte(kNic).ga_log_intr(), 1u);
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kGaLog);
  EXPECT_EQ(platform().wake_count(1), 1u);
  EXPECT_EQ(router().stats().ga_log_wakes, 1u);

  // Woken, it runs again on another CPU (migration): GALogIntr off, destination CPU 3.
  ASSERT_TRUE(router().Unblock(1, 3).ok());
  EXPECT_EQ(irte(kNic).is_run(), 1u);
  EXPECT_EQ(irte(kNic).ga_log_intr(), 0u);
  EXPECT_EQ(irte(kNic).destination(), apic(3));
  // None of these transitions needed an invalidation: only uncached fields changed.
}

TEST_F(RouterTest, LoadPutBlockIssueNoCommandsInGaLogMode) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Bind(kDisk, 0, 0x42).ok());
  const uint64_t commands = h().fake().commands_executed();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(router().Load(0, i % 4).ok());
    ASSERT_TRUE(router().Put(0).ok());
    ASSERT_TRUE(router().Load(0, (i + 1) % 4).ok());
    ASSERT_TRUE(router().Block(0, (i + 1) % 4).error.ok());
  }
  EXPECT_EQ(h().fake().commands_executed(), commands);
}

TEST_F(RouterTest, InterruptBetweenIsRunClearAndSleepIsCaughtByBlock) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  h().Fire(kNic);  // arrives while running: IRR set, doorbell, guest has not taken it yet
  const BlockOutcome b = router().Block(0, 1);
  EXPECT_EQ(b.decision, BlockDecision::kPendingDontSleep);
}

TEST_F(RouterTest, PreemptedWhileBlockingKeepsNotifying) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Put(0).ok());  // scheduled out while blocking: a no-op
  EXPECT_EQ(irte(kNic).ga_log_intr(), 1u);
  h().Fire(kNic);
  EXPECT_EQ(platform().wake_count(0), 1u);
}

// --- GA log overflow and teardown ---

TEST_F(RouterTest, GaLogOverflowLosesNoWakeup) {
  Start({}, 16);
  for (uint16_t v = 0; v < 16; ++v) {
    ASSERT_TRUE(router().Bind({kDev, v}, v, 0x40 + v).ok());
    ASSERT_TRUE(router().Load(v, v % 4).ok());
    ASSERT_EQ(router().Block(v, v % 4).decision, BlockDecision::kSleep);
  }
  // The GA log CPU is busy with interrupts off; vCPU 0's device floods the log.
  platform().SetIrqsDisabled(kGaLogCpu, true);
  for (int i = 0; i < 511; ++i) h().Fire({kDev, 0});
  // The log is full: these entries are dropped, only their IRR bits remain.
  for (uint16_t v = 1; v < 16; ++v) {
    EXPECT_EQ(h().Fire({kDev, v}).kind, DeliveryKind::kGaLogDropped);
  }
  EXPECT_EQ(h().fake().ga_log_entries_dropped(), 15u);
  platform().SetIrqsDisabled(kGaLogCpu, false);  // the handler runs: drain, restart, rescan
  for (VcpuId v = 0; v < 16; ++v) {
    EXPECT_GE(platform().wake_count(v), 1u) << "vCPU " << v << " lost its wakeup";
  }
  EXPECT_EQ(router().stats().ga_log_overflows, 1u);
  EXPECT_EQ(router().stats().overflow_rescans, 1u);
  EXPECT_EQ(router().stats().overflow_rescan_checks, 16u) << "all 16 vCPUs are blocked";
  EXPECT_EQ(router().stats().overflow_rescan_wakes, 16u);
  // The log runs again: a later interrupt is logged and wakes normally.
  h().DrainIrr(5);
  const uint64_t before = platform().wake_count(5);
  EXPECT_EQ(h().Fire({kDev, 5}).kind, DeliveryKind::kGaLog);
  EXPECT_EQ(platform().wake_count(5), before + 1);
}

// Issue 14, story 5: the GA log interrupt's own CPU cannot go offline while it receives the GA
// log interrupt (every later wakeup would be lost): the router refuses and says what to do.
TEST_F(RouterTest, OffliningTheGaLogCpuIsRefusedUntilItsInterruptMoves) {
  Start({}, 1);
  const absl::StatusOr<uint32_t> refused = router().OfflineCpu(kGaLogCpu);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("RetargetGaLogInterrupt"));
  EXPECT_TRUE(router().OfflineCpu(2).ok()) << "other CPUs go offline as before";
  EXPECT_EQ(router().OfflineCpu(7).status().code(), absl::StatusCode::kInvalidArgument);
}

// Moved first (both CPUs online), the GA log interrupt wakes blocked vCPUs from its new CPU
// after the old one went offline.
TEST_F(RouterTest, GaLogInterruptRetargetedBeforeOfflineStillWakes) {
  Start({}, 1);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().RetargetGaLogInterrupt(2).ok());
  EXPECT_EQ(hw::amd::IntCapXt::FromRaw(h().fake().Read64(hw::amd::mmio::kGaLogIntCapXt))
                .destination(),
            apic(2));
  ASSERT_TRUE(router().OfflineCpu(kGaLogCpu).ok());
  platform().SetOnline(kGaLogCpu, false);
  const uint64_t wakes = platform().wake_count(0);
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kGaLog);
  EXPECT_EQ(platform().wake_count(0), wakes + 1) << "the wakeup was lost";
  EXPECT_EQ(router().RetargetGaLogInterrupt(9).code(), absl::StatusCode::kInvalidArgument);
}

// Issue 14, story 7: the IOMMU writes the IRR before it reads IsRun (and the destination, tag
// and GALogIntr). A vCPU that blocks while a device interrupt is mid-delivery either sees the
// IRR bit when it checks, or the IOMMU sees IsRun = 0 and logs the wakeup; never neither.
TEST_F(RouterTest, AVcpuBlockingWhileTheIommuDeliversIsWoken) {
  Start({}, 1);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  BlockDecision decision = BlockDecision::kNotParked;
  h().fake().SetMidDeliveryHook([&] { decision = router().Block(0, 1).decision; });
  const uint64_t wakes = platform().wake_count(0);
  const hw::fake::Delivery d = h().Fire(kNic);
  h().fake().SetMidDeliveryHook(nullptr);
  ASSERT_EQ(decision, BlockDecision::kSleep) << "the IRR was not written yet when it checked";
  EXPECT_EQ(d.kind, DeliveryKind::kGaLog) << "IsRun read after the IRR write";
  EXPECT_EQ(platform().wake_count(0), wakes + 1) << "the blocked vCPU was never woken";
}

// Issue 14, story 1: a Bind whose completion wait times out rolls the IRTE back, but a device
// interrupt during the wait had cached the new entry (the other VM's vAPIC page). The router
// flushes again after the rollback: the device keeps posting into the old owner's page.
TEST_F(RouterTest, FailedBindLeavesTheIommuUsingTheOldEntry) {
  Start({}, 1);
  ASSERT_TRUE(h().AddVcpu(5, /*vm_id=*/2, /*index=*/0).ok());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Load(5, 2).ok());
  h().fake().DropCompletionStores(1);
  h().fake().RefetchAfterNextInvalidation(kNic.device_id, kNic.index);
  const absl::Status bind = router().Bind(kNic, 5, 0x61);
  ASSERT_EQ(bind.code(), absl::StatusCode::kUnavailable) << bind;
  EXPECT_THAT(std::string(bind.message()), ::testing::Not(::testing::HasSubstr("may still")));
  h().DrainIrr(0);
  h().DrainIrr(5);
  const hw::fake::Delivery d = h().Fire(kNic);
  EXPECT_EQ(d.vapic_page_pa, h().page_pa(0)) << "posted into the other VM's vAPIC page";
  EXPECT_TRUE(h().IrrSet(0, 0x41));
  EXPECT_FALSE(h().AnyIrr(5));
}

// The same for Remap: after a failed switch to remapped mode the guest still gets its
// interrupts, not the host vector.
TEST_F(RouterTest, FailedRemapLeavesTheIommuPostingToTheGuest) {
  Start({}, 1);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  h().fake().DropCompletionStores(1);
  h().fake().RefetchAfterNextInvalidation(kNic.device_id, kNic.index);
  ASSERT_EQ(router().Remap(kNic, 0x90, apic(2)).code(), absl::StatusCode::kUnavailable);
  const hw::fake::Delivery d = h().Fire(kNic);
  EXPECT_EQ(d.kind, DeliveryKind::kDoorbell) << "went to the host vector " << int{d.vector};
  EXPECT_TRUE(h().IrrSet(0, 0x41));
}

// When even the flush after the rollback fails, the error says the IOMMU may still use the new
// entry, instead of claiming "unchanged" alone.
TEST_F(RouterTest, FailedBindWhoseReflushFailsSaysSo) {
  Start({}, 1);
  ASSERT_TRUE(h().AddVcpu(5, /*vm_id=*/2, /*index=*/0).ok());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  h().fake().DropCompletionStores(2);
  const absl::Status bind = router().Bind(kNic, 5, 0x61);
  ASSERT_EQ(bind.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(bind.message()), ::testing::HasSubstr("may still use the new entry"));
}

// Issue 14, story 2: a rebind between two blocked vCPUs. An interrupt in the window between
// the IRTE write and its invalidation combines the old owner's cached root pointer and vector
// with the new owner's fresh tag: it lands in vCPU 0's IRR while the GA log names vCPU 1. After
// the move, the router wakes the old owner, which has something pending.
TEST_F(RouterTest, RebindBetweenBlockedVcpusWakesTheOldOwner) {
  Start({}, 2);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);  // the IOMMU caches vCPU 0's entry
  h().DrainIrr(0);
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Load(1, 2).ok());
  ASSERT_EQ(router().Block(1, 2).decision, BlockDecision::kSleep);
  const uint64_t wakes0 = platform().wake_count(0);
  h().fake().DeliverBeforeNextInvalidation(kNic.device_id, kNic.index);
  ASSERT_TRUE(router().Bind(kNic, 1, 0x51).ok());
  const hw::fake::Delivery early = h().fake().last_early_delivery();
  ASSERT_EQ(early.vapic_page_pa, h().page_pa(0)) << "the window's interrupt used the cached root";
  ASSERT_TRUE(h().IrrSet(0, 0x41));
  EXPECT_EQ(platform().wake_count(0), wakes0 + 1) << "vCPU 0 sleeps with 0x41 pending";
  EXPECT_EQ(router().stats().rebind_wakes, 1u);
}

// Found by the property test once devices fired during command waits (issue 14 acceptance 4):
// the same window on Remap. An interrupt between the switch to remapped mode and its
// invalidation posts with the cached guest entry but reads the remapped entry's fresh bits
// (no IsRun, no GALogIntr): vCPU 0's IRR is set and nothing notifies. Remap wakes the owner.
TEST_F(RouterTest, RemapOfABlockedOwnersIrteWakesIt) {
  Start({}, 1);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);  // the IOMMU caches vCPU 0's entry
  h().DrainIrr(0);
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  const uint64_t wakes = platform().wake_count(0);
  h().fake().DeliverBeforeNextInvalidation(kNic.device_id, kNic.index);
  ASSERT_TRUE(router().Remap(kNic, 0x90, apic(2)).ok());
  const hw::fake::Delivery early = h().fake().last_early_delivery();
  ASSERT_EQ(early.kind, DeliveryKind::kIrrOnly) << "posted, with nobody notified";
  ASSERT_TRUE(h().IrrSet(0, 0x41));
  EXPECT_EQ(platform().wake_count(0), wakes + 1) << "vCPU 0 sleeps with 0x41 pending";
}

// The reverse mix, on a failed move: a device interrupt during the wait caches vCPU 1's new
// entry; the wait times out and the IRTE is rolled back to vCPU 0's; an interrupt before the
// flush that follows posts into vCPU 1's page (cached) and notifies vCPU 0 (fresh). vCPU 1,
// blocked, does not own the IRTE, yet has an IRR bit set: the router wakes it too.
TEST_F(RouterTest, FailedRebindWakesTheBlockedVcpuItPostedInto) {
  Start({}, 2);
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_TRUE(router().Load(1, 2).ok());
  ASSERT_EQ(router().Block(1, 2).decision, BlockDecision::kSleep);
  const uint64_t wakes1 = platform().wake_count(1);
  h().fake().DropCompletionStores(1);
  h().fake().RefetchAfterNextInvalidation(kNic.device_id, kNic.index);
  h().fake().DeliverBeforeNextInvalidation(kNic.device_id, kNic.index, /*skip=*/1);
  ASSERT_EQ(router().Bind(kNic, 1, 0x51).code(), absl::StatusCode::kUnavailable);
  const hw::fake::Delivery early = h().fake().last_early_delivery();
  ASSERT_EQ(early.vapic_page_pa, h().page_pa(1)) << "the window's interrupt used the cached entry";
  ASSERT_TRUE(h().IrrSet(1, 0x51));
  EXPECT_EQ(router().OwnerOf(kNic), 0);
  EXPECT_EQ(platform().wake_count(1), wakes1 + 1) << "vCPU 1 sleeps with 0x51 pending";
}

// Issue 14, story 4: a Load that could not set GAPPIDis (its command failed) defers it; the Put
// that follows changes only IsRun, issues no command and cannot fail, even while commands fail.
TEST_F(RouterTest, PutAfterADeferredGappiDisIssuesNoCommandAndSucceeds) {
  Start(GappiOptions(), 1);
  ASSERT_TRUE(h().iommu().gappi_dis_supported());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  ASSERT_EQ(irte(kNic).gappi_dis(), 0u);
  h().fake().DropCompletionStores(8);  // every command from now on times out
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_EQ(router().stats().gappi_dis_deferred, 1u);
  EXPECT_EQ(irte(kNic).gappi_dis(), 0u) << "deferred";
  const uint64_t commands = h().fake().commands_executed();
  const RouteError put = router().Put(0);
  EXPECT_TRUE(put.ok()) << put.ToStatus();
  EXPECT_EQ(h().fake().commands_executed(), commands) << "Put issued a command";
  EXPECT_EQ(irte(kNic).is_run(), 0u);
  h().fake().DropCompletionStores(0);
  EXPECT_TRUE(router().Load(0, 1).ok());
  EXPECT_EQ(irte(kNic).gappi_dis(), 1u) << "the next Load sets it";
}

// x2AVIC VMs have up to 4096 vCPUs: the GA tag holds index 4095, and the GA log entry that
// carries it wakes that vCPU.
TEST_F(RouterTest, GaLogWakesVcpuIndex4095) {
  Start({}, 1);
  ASSERT_TRUE(h().AddVcpu(1, /*vm_id=*/3, /*index=*/4095).ok());
  ASSERT_TRUE(router().Bind(kNic, 1, 0x41).ok());
  EXPECT_EQ(irte(kNic).ga_tag(), hw::amd::GaTag::Make(3, 4095)->raw());
  ASSERT_TRUE(router().Load(1, 1).ok());
  ASSERT_EQ(router().Block(1, 1).decision, BlockDecision::kSleep);
  const uint64_t wakes = platform().wake_count(1);
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kGaLog);
  EXPECT_EQ(platform().wake_count(1), wakes + 1);
  EXPECT_EQ(h().AddVcpu(2, 3, 4096).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RouterTest, VmTeardownWithEntriesStillInTheLog) {
  Start({}, 4);
  // VM 1 = vCPUs 0..3 (harness). Block them all, log one entry each, but keep the log unserviced.
  for (uint16_t v = 0; v < 4; ++v) {
    ASSERT_TRUE(router().Bind({kDev, v}, v, 0x50).ok());
    ASSERT_EQ(router().Block(v, 1).decision, BlockDecision::kSleep);
  }
  platform().SetIrqsDisabled(kGaLogCpu, true);
  for (uint16_t v = 0; v < 4; ++v) EXPECT_EQ(h().Fire({kDev, v}).kind, DeliveryKind::kGaLog);
  // Tear the VM down: IRTEs back to the host, vCPUs removed, backing pages freed. (Remap wakes
  // each old vCPU, blocked with an IRR bit set, itself: see Bind on the write window.)
  uint64_t wakes_at_teardown[4];
  for (uint16_t v = 0; v < 4; ++v) {
    ASSERT_TRUE(router().Remap({kDev, v}, 0x60, apic(0)).ok());
    ASSERT_TRUE(router().RemoveVcpu(v).ok());
    wakes_at_teardown[v] = platform().wake_count(v);
  }
  // A new VM reuses the vCPU slots before the stale entries are drained.
  ASSERT_TRUE(h().AddVcpu(0, 2, 0).ok());
  ASSERT_TRUE(h().AddVcpu(1, 2, 1).ok());
  platform().SetIrqsDisabled(kGaLogCpu, false);
  EXPECT_EQ(router().stats().ga_log_unknown_tags, 4u);
  EXPECT_EQ(router().stats().ga_log_wakes, 0u);
  for (VcpuId v = 0; v < 4; ++v) EXPECT_EQ(platform().wake_count(v), wakes_at_teardown[v]);
}

TEST_F(RouterTest, RemoveVcpuRefusesWhileItOwnsIrtes) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 2, 0x41).ok());
  const absl::Status s = router().RemoveVcpu(2);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("vCPU 2"), std::string::npos) << s;
  EXPECT_EQ(router().OwnerOf(kNic), 2);
}

// --- ownership: the 2016 review bug ---

TEST_F(RouterTest, RebindMovesTheIrteItNeverSitsOnTwoLists) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().Load(1, 2).ok());
  ASSERT_TRUE(router().Bind(kNic, 1, 0x51).ok());  // rebind while bound and both running
  EXPECT_EQ(router().OwnerOf(kNic), 1);
  EXPECT_EQ(router().OwnedCount(0), 0u);
  EXPECT_EQ(router().OwnedCount(1), 1u);
  EXPECT_EQ(irte(kNic).destination(), apic(2));
  EXPECT_EQ(irte(kNic).vector(), 0x51u);
  // vCPU 0 moving around no longer touches the IRTE (with two lists it would drag it along).
  ASSERT_TRUE(router().Put(0).ok());
  ASSERT_TRUE(router().Load(0, 3).ok());
  EXPECT_EQ(irte(kNic).destination(), apic(2));
  EXPECT_EQ(irte(kNic).is_run(), 1u);
  // The cached vector changed, so the rebind invalidated: the device now hits vCPU 1's page.
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);
  EXPECT_TRUE(h().IrrSet(1, 0x51));
  EXPECT_FALSE(h().AnyIrr(0));
  // Rebinding back and forth keeps exactly one owner.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(router().Bind(kNic, i % 3, 0x41).ok());
  EXPECT_EQ(router().OwnedCount(0) + router().OwnedCount(1) + router().OwnedCount(2), 1u);
}

TEST_F(RouterTest, RemapUnbindsAndDeliversToTheHost) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Remap(kNic, 0x70, apic(1)).ok());
  EXPECT_EQ(router().OwnerOf(kNic), -1);
  EXPECT_EQ(router().OwnedCount(0), 0u);
  const auto d = h().Fire(kNic);
  EXPECT_EQ(d.kind, DeliveryKind::kRemapped);
  EXPECT_EQ(d.vector, 0x70);
  EXPECT_EQ(d.apic_id, apic(1));
  EXPECT_FALSE(h().AnyIrr(0));
}

// --- rollback ---

TEST_F(RouterTest, FailedBindLeavesIrteAndListsAsTheyWere) {
  Start();
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  const hw::amd::IrteWords before = h().iommu().ReadIrte(kDev, 3);
  h().fake().DropCompletionStores(1);
  const absl::Status s = router().Bind(kNic, 1, 0x51);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("vCPU 1"), std::string::npos) << s;
  EXPECT_NE(s.message().find("0x20:3"), std::string::npos) << s;
  EXPECT_EQ(router().OwnerOf(kNic), 0);
  EXPECT_EQ(router().OwnedCount(1), 0u);
  EXPECT_EQ(h().iommu().ReadIrte(kDev, 3), before);
  // A fresh bind that fails leaves the IRTE unowned and invalid.
  h().fake().StallCommands(true);
  EXPECT_FALSE(router().Bind(kDisk, 2, 0x52).ok());
  h().fake().StallCommands(false);
  EXPECT_EQ(router().OwnerOf(kDisk), -1);
  EXPECT_EQ(irte(kDisk).valid(), 0u);
  // And a failed remap leaves the binding.
  h().fake().DropCompletionStores(1);
  const absl::Status r = router().Remap(kNic, 0x70, apic(1));
  EXPECT_NE(r.message().find("vCPU 0"), std::string::npos) << r;
  EXPECT_EQ(router().OwnerOf(kNic), 0);
  EXPECT_EQ(irte(kNic).guest_mode(), 1u);
}

// --- GAPPI mode ---

TEST_F(RouterTest, GappiModeParksOnTheQueueAndTheGappiVectorWakes) {
  Start(GappiOptions());
  ASSERT_EQ(router().mode(), hw::amd::GuestIrMode::kGappi);
  ASSERT_TRUE(router().Bind(kNic, 1, 0x41).ok());
  const uint8_t wakeup_vector = h().queues()->WakeupVector(1);
  EXPECT_EQ(irte(kNic).ga_tag(), wakeup_vector);
  EXPECT_EQ(irte(kNic).gappi_dis(), 1u);  // not blocking

  ASSERT_TRUE(router().Load(1, 2).ok());
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);
  h().DrainIrr(1);

  ASSERT_TRUE(router().Put(1).ok());
  EXPECT_EQ(irte(kNic).gappi_dis(), 1u);
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kIrrOnly);  // preempted: no wakeup needed
  h().DrainIrr(1);

  ASSERT_TRUE(router().Load(1, 2).ok());
  const BlockOutcome b = router().Block(1, 2);
  ASSERT_TRUE(b.error.ok()) << b.error.ToStatus();
  EXPECT_EQ(b.decision, BlockDecision::kSleep);
  EXPECT_EQ(h().queues()->ParkedCpu(1), 2);
  EXPECT_EQ(irte(kNic).gappi_dis(), 0u);
  EXPECT_EQ(irte(kNic).is_run(), 0u);
  EXPECT_EQ(irte(kNic).destination(), apic(2));
  const auto d = h().Fire(kNic);
  EXPECT_EQ(d.kind, DeliveryKind::kGappi);
  EXPECT_EQ(d.vector, wakeup_vector);
  EXPECT_EQ(d.apic_id, apic(2));
  EXPECT_EQ(platform().wake_count(1), 1u);

  ASSERT_TRUE(router().Unblock(1, 0).ok());
  EXPECT_EQ(h().queues()->ParkedCpu(1), -1);
  EXPECT_EQ(irte(kNic).gappi_dis(), 1u);
  EXPECT_EQ(irte(kNic).destination(), apic(0));
}

TEST_F(RouterTest, GappiBlockTogglesGappiDisWithInvalidations) {
  Start(GappiOptions());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  const uint64_t inv = h().fake().irt_invalidations();
  ASSERT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
  EXPECT_EQ(h().fake().irt_invalidations(), inv + 1);
  ASSERT_TRUE(router().Load(0, 1).ok());
  EXPECT_EQ(h().fake().irt_invalidations(), inv + 2);
}

// Review finding: the destination of a vCPU that never ran must be a real pCPU.
TEST_F(RouterTest, NeverRunVcpuHasAValidDestination) {
  HarnessOptions o = GappiOptions();
  o.features.gappi_dis_sup = false;  // so a GAPPI is actually sent while not blocking
  Start(o, 0);
  ASSERT_TRUE(h().AddVcpu(0, 1, 0, /*home_cpu=*/3).ok());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  EXPECT_EQ(irte(kNic).destination(), apic(3));
  const auto d = h().Fire(kNic);
  EXPECT_EQ(d.kind, DeliveryKind::kGappi);
  EXPECT_EQ(d.apic_id, apic(3));
  // TearDown: no unknown destination, nothing lost.
}

TEST_F(RouterTest, GappiBlockFailureRollsBackAndDoesNotPark) {
  Start(GappiOptions());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Bind(kDisk, 0, 0x42).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  const hw::amd::IrteWords nic = h().iommu().ReadIrte(kDev, 3);
  const hw::amd::IrteWords disk = h().iommu().ReadIrte(kDev, 4);
  // The first IRTE's invalidation succeeds, the second's never completes: the first is rolled
  // back (its own invalidation succeeds).
  h().fake().DropCompletionStores(1, /*after=*/1);
  const BlockOutcome b = router().Block(0, 1);
  EXPECT_EQ(b.decision, BlockDecision::kNotParked);
  EXPECT_FALSE(b.error.ok());
  const absl::Status s = b.error.ToStatus();
  EXPECT_NE(s.message().find("vCPU 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("IRTE 0x20:"), std::string::npos) << s;
  EXPECT_EQ(h().queues()->ParkedCpu(0), -1);
  EXPECT_EQ(h().iommu().ReadIrte(kDev, 3), nic);
  EXPECT_EQ(h().iommu().ReadIrte(kDev, 4), disk);
  EXPECT_EQ(irte(kNic).is_run(), 1u);
  // Nothing is stuck: the next block works.
  EXPECT_EQ(router().Block(0, 1).decision, BlockDecision::kSleep);
}

// The queue refuses to park (the CPU is going offline): Block undoes its IRTE update, so the
// vCPU, still running, keeps IsRun = 1 and GAPPIDis as it was, and a device interrupt rings its
// doorbell instead of sending a GAPPI nobody waits for.
TEST_F(RouterTest, GappiBlockRefusedByTheQueueRestoresTheRunningEntry) {
  Start(GappiOptions());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  const hw::amd::IrteWords before = h().iommu().ReadIrte(kDev, 3);
  ASSERT_EQ(irte(kNic).is_run(), 1u);
  ASSERT_TRUE(router().OfflineCpu(2).ok());
  const BlockOutcome b = router().Block(0, 2);
  EXPECT_EQ(b.decision, BlockDecision::kNotParked);
  EXPECT_EQ(b.error.park, wakeup::ParkError::kCpuOffline);
  EXPECT_EQ(h().queues()->ParkedCpu(0), -1);
  EXPECT_EQ(h().iommu().ReadIrte(kDev, 3), before) << "the running entry is back";
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);
  ASSERT_TRUE(router().OnlineCpu(2).ok());
  EXPECT_EQ(router().Block(0, 2).decision, BlockDecision::kPendingDontSleep)
      << "the posted interrupt is still pending, and the next block sees it";
}

// Issue 14, story 3: the queue refuses to park and the undo's GAPPIDis command times out. The
// vCPU still runs: its entries get IsRun = 1 back (GAPPIDis stays clear until a later Load), so
// devices ring its doorbell.
TEST_F(RouterTest, GappiBlockUndoWhoseCommandFailsStillRestoresIsRun) {
  Start(GappiOptions());
  ASSERT_TRUE(h().iommu().gappi_dis_supported());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 1).ok());
  ASSERT_TRUE(router().OfflineCpu(2).ok());
  h().fake().DropCompletionStores(8, /*after=*/1);  // Block's own command completes, then none
  const BlockOutcome b = router().Block(0, 2);
  EXPECT_EQ(b.decision, BlockDecision::kNotParked);
  EXPECT_EQ(b.error.park, wakeup::ParkError::kCpuOffline);
  EXPECT_EQ(irte(kNic).is_run(), 1u) << "a running vCPU left with IsRun = 0";
  EXPECT_EQ(h().Fire(kNic).kind, DeliveryKind::kDoorbell);
  h().fake().DropCompletionStores(0);
  ASSERT_TRUE(router().OnlineCpu(2).ok());
}

TEST_F(RouterTest, GappiOfflineCpuRetargetsParkedVcpus) {
  Start(GappiOptions());
  ASSERT_TRUE(router().Bind(kNic, 0, 0x41).ok());
  ASSERT_TRUE(router().Load(0, 2).ok());
  ASSERT_EQ(router().Block(0, 2).decision, BlockDecision::kSleep);
  auto moved = router().OfflineCpu(2);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1u);
  platform().SetOnline(2, false);
  const int now = h().queues()->ParkedCpu(0);
  EXPECT_NE(now, 2);
  EXPECT_EQ(irte(kNic).destination(), apic(now));
  EXPECT_EQ(h().Fire(kNic).apic_id, apic(now));
  EXPECT_EQ(platform().wake_count(0), 1u);
  platform().SetOnline(2, true);
  ASSERT_TRUE(router().OnlineCpu(2).ok());
}

TEST_F(RouterTest, ShardedWakeupVectorsGoIntoTheGaTag) {
  HarnessOptions o = GappiOptions();
  o.vectors_per_cpu = 4;
  Start(o);
  for (uint16_t v = 0; v < 4; ++v) {
    ASSERT_TRUE(router().Bind({kDev, v}, v, 0x41).ok());
    ASSERT_EQ(router().Block(v, 1).decision, BlockDecision::kSleep);
    EXPECT_EQ(h().Irte({kDev, v}).ga_tag(), h().queues()->WakeupVector(v));
  }
  EXPECT_NE(h().queues()->WakeupVector(0), h().queues()->WakeupVector(1));
  const auto d = h().Fire({kDev, 2});
  EXPECT_EQ(d.vector, h().queues()->WakeupVector(2));
  EXPECT_EQ(platform().wake_count(2), 1u);
  EXPECT_EQ(platform().total_wakes(), 1u);  // the handler scanned only vCPU 2's bucket
}

// --- bad input ---

TEST_F(RouterTest, BadInputGetsClearErrorsAndChangesNothing) {
  Start();
  EXPECT_EQ(router().Bind(kNic, 99, 0x41).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(router().Bind(kNic, 0, 0x0f).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router().Bind({kDev, 600}, 0, 0x41).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(router().Bind({0x21, 0}, 0, 0x41).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(router().Remap(kNic, 0x05, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router().Load(0, 7).code, RouteErrorCode::kUnknownCpu);
  EXPECT_EQ(router().Load(0, -1).ToStatus().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router().Put(42).code, RouteErrorCode::kUnknownVcpu);
  EXPECT_EQ(router().Block(0, 9).error.code, RouteErrorCode::kUnknownCpu);
  EXPECT_EQ(router().AddVcpu(0, VcpuConfig{1, 0, nullptr, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  // Same (VM, index) twice.
  const absl::Status dup = h().AddVcpu(5, 1, 0);
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  EXPECT_EQ(h().AddVcpu(6, 1u << 23, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router().OwnerOf(kNic), -1);
}

}  // namespace
}  // namespace irqvirt::posted::testing
