// SPDX-License-Identifier: MIT
// The simulated host (examples/host_sim) as a library: it runs clean for several seeds with
// every x86 host (GA log, GAPPI, VT-d) and on arm64, it is deterministic, its default run
// exercises every mechanism its checks are about, and its accounting catches defects injected
// into the simulated hypervisor (defects in irqvirt itself: host_sim_planted_bugs_test.cc).
#include <sstream>
#include <string>
#include <vector>

#include "examples/host_sim/ledger.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/simulation.h"
#include "gtest/gtest.h"

namespace host_sim {
namespace {

SimOptions Short(uint64_t seed, Arch arch) {
  SimOptions o;
  o.seed = seed;
  o.arch = arch;
  o.duration_us = 5000;
  return o;
}

const Section* FindSection(const Report& r, const std::string& section) {
  for (const Section& s : r.sections) {
    if (s.key == section) return &s;
  }
  return nullptr;
}

double Metric(const Report& r, const std::string& section, const std::string& key) {
  if (const Section* s = FindSection(r, section)) {
    for (const struct Metric& m : s->metrics) {
      if (m.key == key) return m.value;
    }
  }
  ADD_FAILURE() << "no metric " << section << "." << key;
  return -1;
}

const ComponentCount* Component(const Report& r, const std::string& key) {
  for (const ComponentCount& c : r.components) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

std::string Failures(const Report& r) {
  std::string s;
  for (const std::string& f : r.failures) s += f + "\n";
  return s;
}

void ExpectEveryInterruptDelivered(const Report& r) {
  EXPECT_TRUE(r.ok()) << Failures(r);
  for (const ComponentCount& c : r.components) {
    if (c.baseline) continue;
    EXPECT_GT(c.raised, 0u) << c.title;
    EXPECT_EQ(c.lost, 0u) << c.title;
    EXPECT_EQ(c.delivered, c.raised) << c.title;
  }
}

class HostSimSeeds : public ::testing::TestWithParam<uint64_t> {};

TEST_P(HostSimSeeds, EveryInterruptIsDeliveredOnEveryHostAndEveryInvariantHolds) {
  const Report r = RunSimulation(Short(GetParam(), Arch::kBoth), nullptr);
  ExpectEveryInterruptDelivered(r);
  for (const char* key : {"x86_galog_msi", "x86_galog_lines", "x86_galog_wakeups", "x86_gappi_msi",
                          "x86_gappi_wakeups", "x86_vtd_msi", "x86_vtd_lines", "x86_vtd_wakeups",
                          "x86_baseline_msi", "arm64_gicv3_spis", "arm64_gicv5_spis"}) {
    EXPECT_NE(Component(r, key), nullptr) << key;
  }
  // Every host saw the same device traffic.
  EXPECT_EQ(Component(r, "x86_gappi_msi")->raised, Component(r, "x86_galog_msi")->raised);
  EXPECT_EQ(Component(r, "x86_vtd_msi")->raised, Component(r, "x86_galog_msi")->raised);
  EXPECT_EQ(Component(r, "x86_baseline_msi")->raised, Component(r, "x86_galog_msi")->raised);
  EXPECT_GT(Metric(r, "x86_galog_iommu", "entries"), 0) << "blocked vCPUs woken through the log";
  EXPECT_GT(Metric(r, "x86_gappi_iommu", "gappi_interrupts"), 0);
  EXPECT_GT(Metric(r, "x86_vtd_iommu", "posted_notifications"), 0);
  EXPECT_GT(Metric(r, "arm64_gicv3", "max_in_flight"), 4) << "more in flight than LRs";
}

INSTANTIATE_TEST_SUITE_P(Seeds, HostSimSeeds, ::testing::Values(1, 2, 3));

// The README's main command: every mechanism the checks are about happens, so that their
// silence means something; the KVM baseline loses wakeups on the same traffic and the
// component table counts them as lost.
TEST(HostSim, TheDefaultRunExercisesEveryMechanism) {
  const Report r = RunSimulation(SimOptions{}, nullptr);
  ExpectEveryInterruptDelivered(r);
  const Section* m = FindSection(r, "mechanisms");
  ASSERT_NE(m, nullptr);
  for (const char* key :
       {"x86_galog_overflow_rescans", "x86_galog_hlt_window_aborts", "x86_galog_lines_high_at_eoi",
        "x86_galog_storm_guard_deferrals", "x86_gappi_interrupts", "x86_gappi_hlt_window_aborts",
        "x86_gappi_wakeup_vector_runs", "x86_vtd_hlt_window_aborts", "x86_vtd_wakeup_vector_runs",
        "x86_vtd_notifications_outside_guest", "arm64_gicv3_lr_overflows",
        "arm64_gicv3_npie_exits", "arm64_gicv3_level_resamples", "arm64_gicv5_level_repends"}) {
    bool found = false;
    for (const struct Metric& metric : m->metrics) found |= metric.key == key;
    EXPECT_TRUE(found) << "no mechanism " << key;
  }
  for (const struct Metric& metric : m->metrics) {
    EXPECT_GT(metric.value, 0) << "mechanism " << metric.key << " never happened";
  }
  const ComponentCount* baseline = Component(r, "x86_baseline_wakeups");
  ASSERT_NE(baseline, nullptr);
  EXPECT_GT(baseline->lost, 0u) << "KVM's GA log restart loses wakeups after an overflow";
  EXPECT_EQ(Component(r, "x86_galog_wakeups")->lost, 0u);
}

TEST(HostSim, SameSeedSameReportOtherSeedOtherTraffic) {
  const SimOptions o = Short(7, Arch::kBoth);
  const std::string a = RenderJson(RunSimulation(o, nullptr));
  EXPECT_EQ(a, RenderJson(RunSimulation(o, nullptr)));
  EXPECT_NE(a, RenderJson(RunSimulation(Short(8, Arch::kBoth), nullptr)));
}

TEST(HostSim, ArmOnlyAndOneX86ModeRunTheirPart) {
  const Report arm = RunSimulation(Short(4, Arch::kArm64), nullptr);
  ExpectEveryInterruptDelivered(arm);
  EXPECT_EQ(Component(arm, "x86_galog_msi"), nullptr);
  EXPECT_NE(Component(arm, "arm64_gicv3_spis"), nullptr);
  SimOptions o = Short(4, Arch::kX86);
  o.x86_modes = {X86Mode::kVtd};
  const Report vtd = RunSimulation(o, nullptr);
  ExpectEveryInterruptDelivered(vtd);
  EXPECT_NE(Component(vtd, "x86_vtd_msi"), nullptr);
  EXPECT_EQ(Component(vtd, "x86_galog_msi"), nullptr);
  EXPECT_EQ(Component(vtd, "arm64_gicv3_spis"), nullptr);
}

TEST(HostSim, MoreListRegistersMeanFewerOverflows) {
  SimOptions o = Short(5, Arch::kArm64);
  o.lrs = 2;
  const Report few = RunSimulation(o, nullptr);
  o.lrs = 16;
  const Report many = RunSimulation(o, nullptr);
  ExpectEveryInterruptDelivered(few);
  ExpectEveryInterruptDelivered(many);
  EXPECT_GT(Metric(few, "arm64_gicv3", "lr_overflows"),
            Metric(many, "arm64_gicv3", "lr_overflows"));
}

// --- the ledger: a raise merges only into a pending state the hardware holds ---

TEST(InterruptLedger, ARaiseWithNoPendingStateIsAnObligationOfItsOwn) {
  InterruptLedger l("test");
  l.Add(7, /*held=*/false, 100, 1);
  l.Add(7, /*held=*/false, 200, 2);  // the first one was dropped by the hardware, say
  std::vector<uint64_t> met;
  EXPECT_EQ(l.DeliverObligation(7, 300, [&](const InterruptLedger::Raise& r) {
    met.push_back(r.flow);
  }), 1u);
  EXPECT_EQ(met, std::vector<uint64_t>{1});
  EXPECT_EQ(l.lost(), 1u) << "the second raise is still owed";
  EXPECT_EQ(l.OldestOf(7), 200);
}

TEST(InterruptLedger, ARaiseIntoAHeldPendingStateMergesAndOneHandlerMeetsBoth) {
  InterruptLedger l("test");
  l.Add(7, false, 100, 1);
  l.Add(7, /*held=*/true, 150, 2);  // the IRR bit was still set: one interrupt for both
  EXPECT_EQ(l.merged(), 1u);
  EXPECT_EQ(l.DeliverObligation(7, 300, [](const InterruptLedger::Raise&) {}), 2u);
  EXPECT_EQ(l.lost(), 0u);
  EXPECT_EQ(l.delivered(), 2u);
  EXPECT_EQ(l.latency().MaxUs(), 0.2);  // 300 - 100 ns
  // A handler that runs for nothing owed is no delivery.
  EXPECT_EQ(l.DeliverObligation(7, 400, [](const InterruptLedger::Raise&) {}), 0u);
  EXPECT_EQ(l.empty_deliveries(), 1u);
}

TEST(InterruptLedger, ALevelDevicesHandlerMeetsTheOldestRaisesItServiced) {
  InterruptLedger l("test");
  l.Add(3, false, 10, 1);
  l.Add(3, true, 20, 2);  // the line was high
  l.Add(3, true, 30, 3);
  std::vector<uint64_t> met;
  EXPECT_EQ(l.DeliverRaises(3, 2, 40, [&](const InterruptLedger::Raise& r) {
    met.push_back(r.flow);
  }), 2u);
  EXPECT_EQ(met, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(l.OldestOf(3), 30);
  EXPECT_EQ(l.lost(), 1u);
}

TEST(StoryLog, TellsTheLastEntriesOldestFirst) {
  StoryLog s;
  for (int i = 0; i < 30; ++i) s.Add(5, i * 1000, "step %lld of %lld", i, 30);
  const std::string story = s.Tell(5, "vCPU 5");
  EXPECT_NE(story.find("story of vCPU 5"), std::string::npos);
  EXPECT_EQ(story.find("step 9 of 30"), std::string::npos) << "older entries are dropped";
  EXPECT_LT(story.find("step 10 of 30"), story.find("step 29 of 30")) << story;
  EXPECT_NE(s.Tell(6, "vCPU 6").find("nothing recorded"), std::string::npos);
}

// --- defects in the simulated hypervisor: the accounting fails ---

TEST(HostSimDefects, GaLogRestartWithoutRescanLosesWakeupsAndFails) {
  SimOptions o;  // the default run overflows the GA log
  o.arch = Arch::kX86;
  o.x86_modes = {X86Mode::kGaLog};
  o.baseline = false;
  const Report healthy = RunSimulation(o, nullptr);
  ExpectEveryInterruptDelivered(healthy);
  ASSERT_GT(Metric(healthy, "x86_galog_iommu", "overflows"), 0) << "the storms overflow the log";
  EXPECT_GT(Metric(healthy, "x86_galog_iommu", "rescan_wakes"), 0);

  o.hooks.ga_log_restart_without_rescan = true;
  const Report broken = RunSimulation(o, nullptr);
  EXPECT_FALSE(broken.ok());
  EXPECT_GT(Metric(broken, "x86_galog_wakeups", "lost_wakeups"), 0);
  EXPECT_GT(Component(broken, "x86_galog_wakeups")->lost, 0u);
  EXPECT_NE(Failures(broken).find("no wakeup coming (checked after the GA log handler)"),
            std::string::npos)
      << Failures(broken);
}

TEST(HostSimDefects, DroppedWakeupsAreCaughtAsLostWakeups) {
  SimOptions o = Short(3, Arch::kX86);
  o.x86_modes = {X86Mode::kGappi};
  o.hooks.drop_every_nth_wake = 3;
  const Report r = RunSimulation(o, nullptr);
  EXPECT_FALSE(r.ok());
  EXPECT_GT(Metric(r, "x86_gappi_wakeups", "dropped_wakes_defect"), 0);
  EXPECT_GT(Component(r, "x86_gappi_wakeups")->lost, 0u);
  EXPECT_NE(Failures(r).find("no wakeup coming"), std::string::npos) << Failures(r);
  EXPECT_NE(Failures(r).find("story of vCPU"), std::string::npos) << Failures(r);
}

TEST(HostSimDefects, TheCommandExitsOneAndNamesTheLoss) {
  std::ostringstream out, err;
  TestHooks hooks;
  hooks.ga_log_restart_without_rescan = true;
  const int status = HostSimMain({"--arch=x86", "--mode=galog", "--seed=1"}, out, err, hooks);
  EXPECT_EQ(status, 1);
  EXPECT_NE(err.str().find("FAIL: x86 GA log:"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("no wakeup coming"), std::string::npos) << err.str();
  EXPECT_NE(out.str().find("FAIL:"), std::string::npos);
}

}  // namespace
}  // namespace host_sim
