// SPDX-License-Identifier: MIT
// GICv5 in-flight SPI tracking against the fake IRS: what an embedder relies on when a
// level-triggered device's resample hook hangs off an SPI's deactivation.
#include <array>
#include <cstdint>
#include <memory>

#include "gtest/gtest.h"
#include "tests/vgic_v5/vgic_v5_harness.h"

namespace irqvirt::vgic::testing {
namespace {

// Records notifications per SPI. While it runs it takes the vGIC's list lock and the SPI's lock
// (through watched_in_flight and Snapshot): the logical platform records a violation if either
// is still held, so a notifier called under a vGIC lock fails the test.
struct Recorder {
  VgicV5Harness* h = nullptr;
  std::array<int, 1024> calls{};
  int total = 0;
  bool irqs_were_off = false;

  static void Notify(void* self, uint32_t id) {
    auto* r = static_cast<Recorder*>(self);
    ++r->calls[id];
    ++r->total;
    const int cpu = r->h->platform().current_cpu();
    r->irqs_were_off |= r->h->platform().irqs_disabled(cpu);
    (void)r->h->vgic().watched_in_flight();
    (void)r->h->vgic().Snapshot(id);
  }
  void Watch(uint32_t id) {
    ASSERT_TRUE(h->vgic().SetDeactivationNotifier(id, &Recorder::Notify, this).ok());
  }
};

class VgicV5Scenario : public ::testing::Test {
 protected:
  void SetUp() override { rec_.h = &h_; }
  void ExpectNoViolations() {
    EXPECT_TRUE(h_.platform().violations().empty())
        << "first: " << (h_.platform().violations().empty() ? "" : h_.platform().violations()[0]);
    EXPECT_FALSE(rec_.irqs_were_off) << "a notifier ran with interrupts off (under a lock)";
  }
  VgicV5Harness h_;
  Recorder rec_;
};

TEST_F(VgicV5Scenario, EdgeSpiAcknowledgedAndDeactivatedIsPoppedAndNotifiedOnceOutsideTheLock) {
  h_.GuestSetUp(5, Trigger::kEdge);
  rec_.Watch(5);
  h_.Inject(5, true);
  EXPECT_TRUE(h_.irs().State(h_.vm(), 5).pending) << "the injection reached the IRS (VDPEND)";
  EXPECT_EQ(h_.Snapshot(5).in_flight, InFlight::kWatched);

  h_.Exit(0);  // not taken yet: stays
  EXPECT_EQ(rec_.total, 0);
  EXPECT_EQ(h_.Snapshot(5).in_flight, InFlight::kWatched);

  ASSERT_EQ(h_.Acknowledge(0), 5u);
  h_.Exit(0);  // active: stays
  EXPECT_EQ(rec_.total, 0);
  EXPECT_TRUE(h_.Snapshot(5).active);

  ASSERT_TRUE(h_.irs().PriorityDrop(h_.vm(), 0));
  h_.Deactivate(5);
  h_.Exit(0);
  EXPECT_EQ(rec_.calls[5], 1);
  EXPECT_EQ(h_.Snapshot(5).in_flight, InFlight::kNo);
  EXPECT_EQ(h_.vgic().in_flight(), 0u);

  h_.Exit(0);
  h_.Exit(1);
  EXPECT_EQ(rec_.calls[5], 1) << "called once, not once per exit";
  ExpectNoViolations();
}

TEST_F(VgicV5Scenario, LevelSpiWithLineHighStaysListedThenLeavesWhenLineDropsAndGuestDeactivates) {
  h_.GuestSetUp(9, Trigger::kLevel);
  rec_.Watch(9);
  h_.Inject(9, true);
  ASSERT_EQ(h_.HandleOne(0), 9u);  // acknowledged and deactivated, but the line is still high
  h_.Exit(0);
  EXPECT_EQ(rec_.total, 0);
  EXPECT_EQ(h_.Snapshot(9).in_flight, InFlight::kWatched);
  EXPECT_TRUE(h_.irs().State(h_.vm(), 9).pending) << "a high line keeps it pending";

  ASSERT_EQ(h_.Acknowledge(0), 9u);  // taken again (the line is high)
  h_.Inject(9, false);               // the guest's handler quietened the device
  h_.Exit(0);
  EXPECT_EQ(rec_.total, 0) << "still active";
  ASSERT_TRUE(h_.irs().PriorityDrop(h_.vm(), 0));
  h_.Deactivate(9);
  h_.Exit(1);  // any vCPU's exit notices it
  EXPECT_EQ(rec_.calls[9], 1);
  EXPECT_EQ(h_.Snapshot(9).in_flight, InFlight::kNo);
  EXPECT_FALSE(h_.Snapshot(9).pending_latch);
  ExpectNoViolations();
}

TEST_F(VgicV5Scenario, AcknowledgedAndDeactivatedWithinOneRunStillNotifies) {
  h_.GuestSetUp(3, Trigger::kEdge);
  h_.GuestSetUp(4, Trigger::kLevel);
  rec_.Watch(3);
  rec_.Watch(4);
  h_.Inject(3, true);
  h_.Inject(4, true);
  // One run: the guest takes both; the device behind 4 drops its line when serviced.
  ASSERT_TRUE(h_.HandleOne(0).has_value());
  ASSERT_TRUE(h_.Acknowledge(0).has_value());
  h_.Inject(4, false);
  ASSERT_TRUE(h_.irs().PriorityDrop(h_.vm(), 0));
  h_.Deactivate(3);
  h_.Deactivate(4);
  h_.Exit(0);  // the first exit after all of it
  EXPECT_EQ(rec_.calls[3], 1);
  EXPECT_EQ(rec_.calls[4], 1);
  h_.Exit(0);
  EXPECT_EQ(rec_.total, 2);
  ExpectNoViolations();
}

TEST_F(VgicV5Scenario, SixtyFourSpisDeactivatedInOneExitAreAllNotifiedInThatExit) {
  for (uint32_t id = 0; id < 64; ++id) {
    h_.GuestSetUp(id, id % 2 ? Trigger::kLevel : Trigger::kEdge, static_cast<uint8_t>(id % 32));
    rec_.Watch(id);
    h_.Inject(id, true);
  }
  h_.Exit(0);
  for (uint32_t n = 0; n < 64; ++n) {
    const std::optional<uint32_t> id = h_.Acknowledge(0);
    ASSERT_TRUE(id.has_value()) << n;
    ASSERT_TRUE(h_.irs().PriorityDrop(h_.vm(), 0));  // EOImode 1: drop now, deactivate later
    if (*id % 2) h_.Inject(*id, false);
  }
  for (uint32_t id = 0; id < 64; ++id) h_.Deactivate(id);
  EXPECT_EQ(h_.vgic().watched_in_flight(), 64u);
  h_.Exit(1);
  EXPECT_EQ(rec_.total, 64) << "nothing delayed to a later exit";
  for (uint32_t id = 0; id < 64; ++id) EXPECT_EQ(rec_.calls[id], 1) << id;
  EXPECT_EQ(h_.vgic().in_flight(), 0u);
  ExpectNoViolations();
}

TEST_F(VgicV5Scenario, NotifierRemovedWhileInFlightIsNeverCalledAndTheSpiStillLeaves) {
  h_.GuestSetUp(7, Trigger::kLevel);
  rec_.Watch(7);
  h_.Inject(7, true);
  ASSERT_EQ(h_.Acknowledge(0), 7u);
  ASSERT_TRUE(h_.vgic().RemoveDeactivationNotifier(7).ok());
  EXPECT_EQ(h_.Snapshot(7).in_flight, InFlight::kQuiet);
  h_.Inject(7, false);
  ASSERT_TRUE(h_.irs().PriorityDrop(h_.vm(), 0));
  h_.Deactivate(7);
  h_.Exit(0);
  EXPECT_EQ(rec_.total, 0);
  EXPECT_EQ(h_.Snapshot(7).in_flight, InFlight::kNo) << "a quiet SPI leaves the list too";
  EXPECT_EQ(h_.vgic().RemoveDeactivationNotifier(7).code(), absl::StatusCode::kNotFound);

  // Set again while in flight: watched from then on.
  h_.Inject(7, true);
  EXPECT_EQ(h_.Snapshot(7).in_flight, InFlight::kQuiet);
  rec_.Watch(7);
  EXPECT_EQ(h_.Snapshot(7).in_flight, InFlight::kWatched);
  h_.Inject(7, false);
  h_.Exit(0);
  EXPECT_EQ(rec_.calls[7], 1) << "withdrawn before the guest took it: idle, so notified";
  ExpectNoViolations();
}

TEST_F(VgicV5Scenario, TeardownWithSpisInFlightCallsNoNotifier) {
  auto* rec = new Recorder{&h_};
  for (uint32_t id = 0; id < 8; ++id) {
    h_.GuestSetUp(id, Trigger::kLevel);
    ASSERT_TRUE(h_.vgic().SetDeactivationNotifier(id, &Recorder::Notify, rec).ok());
    h_.Inject(id, true);
  }
  ASSERT_TRUE(h_.Acknowledge(0).has_value());
  EXPECT_EQ(h_.vgic().in_flight(), 8u);
  h_.DestroyVgic();
  EXPECT_EQ(rec->total, 0);
  delete rec;  // under ASAN a later call into it would be a use after free
  // The IRS still holds the guest's state; the VM is the embedder's to tear down there.
  EXPECT_TRUE(h_.irs().State(h_.vm(), 1).pending);
}

TEST_F(VgicV5Scenario, OnlyWatchedSpisAreQueriedOnEveryPassAndNothingWhenNoneInFlight) {
  h_.Exit(0);
  h_.Exit(1);
  EXPECT_EQ(h_.irs().vdrcfg_count(), 0u) << "no query with nothing in flight";
  EXPECT_EQ(h_.vgic().stats().fold_passes, 0u);

  for (uint32_t id = 0; id < 32; ++id) {
    h_.GuestSetUp(id, Trigger::kEdge);
    h_.Inject(id, true);
  }
  rec_.Watch(0);
  h_.irs().ResetCounters();
  for (int exit = 0; exit < 10; ++exit) h_.Exit(exit % 2);
  EXPECT_GE(h_.irs().vdrcfg_count(), 10u);
  EXPECT_LE(h_.irs().vdrcfg_count(), 10u + 10u / TestVgicV5::kQuietProbeInterval + 1u)
      << "the watched SPI on every exit, a quiet one only every kQuietProbeInterval passes";

  // Quiet SPIs still leave once the guest is done with them, at a rationed query rate.
  for (uint32_t n = 0; n < 32; ++n) ASSERT_TRUE(h_.HandleOne(0).has_value());
  h_.irs().ResetCounters();
  int exits = 0;
  for (; exits < 4000 && h_.vgic().in_flight() > 0; ++exits) h_.Exit(exits % 2);
  EXPECT_EQ(h_.vgic().in_flight(), 0u);
  EXPECT_LE(h_.irs().vdrcfg_count(),
            2u + static_cast<uint64_t>(exits) / TestVgicV5::kQuietProbeInterval + 1u)
      << "quiet SPIs cost no VDRCFG per exit";
  EXPECT_EQ(rec_.calls[0], 1);
  EXPECT_EQ(rec_.total, 1) << "SPIs without a notifier notify nobody";
}

// VM 1 of a two-VM fake IRS.
struct SecondVm {
  SecondVm(uint32_t num_vcpus, uint32_t num_spis)
      : platform(static_cast<int>(num_vcpus)), irs(2, num_spis), backend(irs) {
    auto created = TestVgicV5::Create(
        platform, {.num_vcpus = num_vcpus, .num_spis = num_spis, .vm_id = 1, .irs = &backend});
    EXPECT_TRUE(created.ok());
    vgic = std::move(*created);
  }
  hw::fake::LogicalPlatform platform;
  hw::fake::FakeGicv5Irs irs;
  hw::arm::Gicv5VirtualSpisBackend<hw::fake::FakeGicv5Irs> backend;
  std::unique_ptr<TestVgicV5> vgic;
};

// vCPU 1 exits while vCPU 0 folds. Its guest deactivated SPI A after vCPU 0's pass had already
// queried A (active): the pass popped SPI B (idle), and while vCPU 0 calls B's notifier, vPE 1's
// guest finishes A and vCPU 1 exits. vCPU 1's fold returns at once (no stampede) and vCPU 0 runs
// one more pass for it: A is notified before vCPU 0's fold returns, with two passes for two
// exits. (The notifier stands in for the other CPU; a real notifier must not fold.)
TEST(VgicV5Stampede, AnExitDuringAPassIsServedByOneMorePassOfTheFolder) {
  SecondVm vm(2, 8);
  hw::fake::LogicalPlatform& platform = vm.platform;
  hw::fake::FakeGicv5Irs& irs = vm.irs;
  TestVgicV5& vgic = *vm.vgic;
  struct Ctx {
    hw::fake::FakeGicv5Irs* irs;
    TestVgicV5* vgic;
    int calls[8];
    uint64_t passes_before_exit;
    uint64_t passes_after_exit;
  } ctx{&irs, &vgic, {}, 0, 0};
  DeactivationNotifier note = [](void* c, uint32_t id) {
    auto* x = static_cast<Ctx*>(c);
    ++x->calls[id];
    if (id != 4) return;
    x->irs->Deactivate(1, 2);
    x->irs->Deactivate(1, 6);
    x->passes_before_exit = x->vgic->stats().fold_passes;
    EXPECT_TRUE(x->vgic->FoldSpis(1).ok());  // returns at once: a folder is dispatching
    x->passes_after_exit = x->vgic->stats().fold_passes;
  };
  for (uint32_t id : {2u, 4u, 6u}) {
    irs.GuestSetEnabled(1, id, true);
    irs.GuestSetTarget(1, id, 1);
    irs.GuestSetPriority(1, id, static_cast<uint8_t>(id));
    ASSERT_TRUE(vgic.ConfigureSpi(id, Trigger::kLevel).ok());
    ASSERT_TRUE(vgic.SetDeactivationNotifier(id, note, &ctx).ok());
  }
  for (uint32_t id : {2u, 6u}) {
    ASSERT_TRUE(vgic.Inject(id, true).ok());
    ASSERT_EQ(irs.Acknowledge(1, 1), id);
    ASSERT_TRUE(irs.PriorityDrop(1, 1));  // active on vPE 1, priority dropped
    ASSERT_TRUE(vgic.Inject(id, false).ok());
  }
  ASSERT_TRUE(vgic.Inject(4, true).ok());
  ASSERT_TRUE(vgic.Inject(4, false).ok());  // withdrawn before the guest took it: idle

  ASSERT_TRUE(vgic.FoldSpis(0).ok());
  EXPECT_EQ(ctx.passes_after_exit, ctx.passes_before_exit) << "no nested pass";
  EXPECT_EQ(ctx.calls[4], 1);
  EXPECT_EQ(ctx.calls[2], 1) << "the deactivation the first pass missed is served before return";
  EXPECT_EQ(ctx.calls[6], 1);
  EXPECT_EQ(vgic.stats().fold_requests, 2u);
  EXPECT_EQ(vgic.stats().fold_passes, 2u);
  EXPECT_EQ(vgic.stats().extra_passes, 1u);
  EXPECT_EQ(vgic.in_flight(), 0u);
  EXPECT_TRUE(platform.violations().empty());
}

// Seven vCPUs exit while the folder calls the notifiers of its pass: one more pass for all.
TEST(VgicV5Stampede, ManyExitsDuringOnePassCostOneMorePassNotOneEach) {
  SecondVm vm(8, 4);
  hw::fake::FakeGicv5Irs& irs = vm.irs;
  TestVgicV5& vgic = *vm.vgic;
  irs.GuestSetEnabled(1, 0, true);
  ASSERT_TRUE(vgic.ConfigureSpi(1, Trigger::kLevel).ok());
  ASSERT_TRUE(vgic.SetDeactivationNotifier(
                      1,
                      [](void* c, uint32_t) {
                        auto* v = static_cast<TestVgicV5*>(c);
                        for (uint32_t vcpu = 1; vcpu < 8; ++vcpu) {
                          EXPECT_TRUE(v->FoldSpis(vcpu).ok());
                        }
                      },
                      &vgic)
                  .ok());
  ASSERT_TRUE(vgic.SetDeactivationNotifier(
                      0, [](void*, uint32_t) {}, nullptr)
                  .ok());
  ASSERT_TRUE(vgic.Inject(0, true).ok());  // pending: queried by every pass, never idle
  ASSERT_TRUE(vgic.Inject(1, true).ok());
  ASSERT_TRUE(vgic.Inject(1, false).ok());  // idle: the first pass pops it
  ASSERT_TRUE(vgic.FoldSpis(0).ok());
  EXPECT_EQ(vgic.stats().fold_requests, 8u);
  EXPECT_EQ(vgic.stats().fold_passes, 2u) << "eight exits at once: two passes";
  EXPECT_EQ(vgic.stats().queries, 3u) << "SPIs 0 and 1, then SPI 0";
}

TEST(VgicV5Errors, BadArgumentsAreRefusedAndChangeNothing) {
  VgicV5Harness h({.num_vcpus = 2, .num_spis = 32});
  auto& v = h.vgic();
  EXPECT_EQ(v.Inject(32, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.FoldSpis(2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.InjectPpi(0, 128, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.SetDeactivationNotifier(3, nullptr, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.RemoveDeactivationNotifier(3).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(v.SetDeactivationNotifier(
                   3, [](void*, uint32_t) {}, nullptr)
                  .ok());
  EXPECT_EQ(v.SetDeactivationNotifier(
                 3, [](void*, uint32_t) {}, nullptr)
                .code(),
            absl::StatusCode::kAlreadyExists);
  h.GuestSetUp(3, Trigger::kLevel);
  h.Inject(3, true);
  EXPECT_EQ(v.ConfigureSpi(3, Trigger::kEdge).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(h.Snapshot(3).trigger, Trigger::kLevel);
  EXPECT_EQ(h.Snapshot(3).in_flight, InFlight::kWatched);

  VgicV5Options bad{.num_vcpus = 1, .num_spis = 0, .vm_id = 0, .irs = nullptr};
  EXPECT_FALSE(TestVgicV5::Create(h.platform(), bad).ok());
}

TEST(VgicV5Errors, AFaultingQueryKeepsTheSpiListedAndChangesNothing) {
  // vm_id 5 does not exist in a two-VM IRS: every query faults (ICSR.F).
  VgicV5Harness h({.num_vcpus = 1, .num_spis = 8, .vm_id = 5, .irs_vms = 2});
  int calls = 0;
  ASSERT_TRUE(h.vgic()
                  .SetDeactivationNotifier(
                      2, [](void* c, uint32_t) { ++*static_cast<int*>(c); }, &calls)
                  .ok());
  ASSERT_TRUE(h.vgic().ConfigureSpi(2, Trigger::kEdge).ok());
  h.Inject(2, true);
  h.Exit(0);
  h.Exit(0);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(h.Snapshot(2).in_flight, InFlight::kWatched);
  EXPECT_TRUE(h.Snapshot(2).pending_latch);
  EXPECT_EQ(h.vgic().stats().query_faults, 2u);
}

TEST(VgicV5Ppis, EdgeLatchGoesToTheHardwareAndComesBackIfStillPending) {
  VgicV5Harness h({.num_vcpus = 2});
  auto& v = h.vgic();
  ASSERT_TRUE(v.ConfigurePpi(1, 23, Trigger::kLevel).ok());
  ASSERT_TRUE(v.InjectPpi(1, 14, true).ok());  // edge (timer-style PPIs are level: 23)
  ASSERT_TRUE(v.InjectPpi(1, 23, true).ok());
  ASSERT_TRUE(v.InjectPpi(1, 100, true).ok());  // second register
  hw::Gicv5PpiState& s = h.ppis(1);
  ASSERT_TRUE(v.FlushPpis(1, s).ok());
  EXPECT_EQ(s.pendr[0], (uint64_t{1} << 14) | (uint64_t{1} << 23));
  EXPECT_EQ(s.pendr[1], uint64_t{1} << 36);
  // The guest took 14 (active, no longer pending); 100 is still pending; 23's line is high.
  s.pendr[0] &= ~(uint64_t{1} << 14);
  s.activer[0] = uint64_t{1} << 14;
  h.Exit(1);
  EXPECT_EQ(*v.PpiState(1, 14), std::make_pair(false, true));
  EXPECT_EQ(*v.PpiState(1, 100), std::make_pair(true, false)) << "edge kept for the next entry";
  EXPECT_EQ(*v.PpiState(1, 23), std::make_pair(true, false));
  ASSERT_TRUE(v.InjectPpi(1, 23, false).ok());
  EXPECT_EQ(*v.PpiState(1, 23), std::make_pair(false, false)) << "a level PPI follows its line";
  EXPECT_EQ(*v.PpiState(0, 14), std::make_pair(false, false)) << "PPIs are per vCPU";
}

}  // namespace
}  // namespace irqvirt::vgic::testing
