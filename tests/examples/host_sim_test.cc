// SPDX-License-Identifier: MIT
// The simulated host (examples/host_sim) as a library: it runs clean for several seeds in both
// posted-interrupt modes and on arm64, it is deterministic, and its accounting catches
// deliberately injected defects.
#include <sstream>
#include <string>
#include <vector>

#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/simulation.h"
#include "gtest/gtest.h"

namespace host_sim {
namespace {

SimOptions Short(uint64_t seed, Arch arch, PostedMode mode) {
  SimOptions o;
  o.seed = seed;
  o.arch = arch;
  o.mode = mode;
  o.duration_us = 20000;
  return o;
}

double Metric(const Report& r, const std::string& section, const std::string& key) {
  for (const Section& s : r.sections) {
    if (s.key != section) continue;
    for (const struct Metric& m : s.metrics) {
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

struct Case {
  uint64_t seed;
  PostedMode mode;
};

class HostSimSeeds : public ::testing::TestWithParam<Case> {};

TEST_P(HostSimSeeds, EveryInterruptIsDeliveredAndEveryInvariantHolds) {
  const Case c = GetParam();
  const Report r = RunSimulation(Short(c.seed, Arch::kBoth, c.mode), nullptr);
  ExpectEveryInterruptDelivered(r);
  ASSERT_NE(Component(r, "x86_posted_msi"), nullptr);
  ASSERT_NE(Component(r, "x86_ioapic_lines"), nullptr);
  ASSERT_NE(Component(r, "arm64_gicv3_spis"), nullptr);
  ASSERT_NE(Component(r, "arm64_gicv5_spis"), nullptr);
  EXPECT_EQ(Metric(r, "x86_wakeups", "lost_wakeups"), 0);
  if (c.mode == PostedMode::kGaLog) {
    EXPECT_GT(Metric(r, "x86_ga_log", "entries"), 0) << "blocked vCPUs were woken through the log";
    // The baseline saw the same device traffic.
    const ComponentCount* baseline = Component(r, "x86_posted_msi_baseline");
    ASSERT_NE(baseline, nullptr);
    EXPECT_EQ(baseline->raised, Component(r, "x86_posted_msi")->raised);
  } else {
    EXPECT_GT(Metric(r, "x86_gappi", "total"), 0) << "blocked vCPUs were woken through GAPPI";
    EXPECT_EQ(Component(r, "x86_posted_msi_baseline"), nullptr) << "no baseline applies";
  }
  EXPECT_GT(Metric(r, "x86_wakeups", "wakes"), 0);
  EXPECT_GT(Metric(r, "x86_ioapic", "eoi_exits"), 0);
  // The guests kept more interrupts in flight than the vCPUs have list registers.
  EXPECT_GT(Metric(r, "arm64_gicv3", "max_in_flight"), 4);
  EXPECT_GT(Metric(r, "arm64_gicv3", "lr_overflows"), 0);
  EXPECT_GT(Metric(r, "arm64_gicv3", "dir_traps"), 0);
  EXPECT_GT(Metric(r, "arm64_gicv5", "notifications"), 0);
}

INSTANTIATE_TEST_SUITE_P(SeedsAndModes, HostSimSeeds,
                         ::testing::Values(Case{1, PostedMode::kGaLog}, Case{2, PostedMode::kGaLog},
                                           Case{3, PostedMode::kGaLog}, Case{1, PostedMode::kGappi},
                                           Case{2, PostedMode::kGappi},
                                           Case{3, PostedMode::kGappi}));

TEST(HostSim, SameSeedSameReportOtherSeedOtherTraffic) {
  const SimOptions o = Short(7, Arch::kBoth, PostedMode::kGaLog);
  const std::string a = RenderJson(RunSimulation(o, nullptr));
  EXPECT_EQ(a, RenderJson(RunSimulation(o, nullptr)));
  EXPECT_NE(a, RenderJson(RunSimulation(Short(8, Arch::kBoth, PostedMode::kGaLog), nullptr)));
}

TEST(HostSim, ArmOnlyAndX86OnlyRunTheirHalf) {
  const Report arm = RunSimulation(Short(4, Arch::kArm64, PostedMode::kGaLog), nullptr);
  ExpectEveryInterruptDelivered(arm);
  EXPECT_EQ(Component(arm, "x86_posted_msi"), nullptr);
  EXPECT_NE(Component(arm, "arm64_gicv3_spis"), nullptr);
  const Report x86 = RunSimulation(Short(4, Arch::kX86, PostedMode::kGappi), nullptr);
  ExpectEveryInterruptDelivered(x86);
  EXPECT_EQ(Component(x86, "arm64_gicv3_spis"), nullptr);
}

TEST(HostSim, MoreListRegistersMeanFewerOverflows) {
  SimOptions o = Short(5, Arch::kArm64, PostedMode::kGaLog);
  o.lrs = 2;
  const Report few = RunSimulation(o, nullptr);
  o.lrs = 16;
  const Report many = RunSimulation(o, nullptr);
  ExpectEveryInterruptDelivered(few);
  ExpectEveryInterruptDelivered(many);
  EXPECT_GT(Metric(few, "arm64_gicv3", "lr_overflows"),
            Metric(many, "arm64_gicv3", "lr_overflows"));
}

// --- the accounting can fail ---

// Storms heavy enough to overflow the 512-entry GA log several times.
SimOptions Stormy(uint64_t seed) {
  SimOptions o = Short(seed, Arch::kX86, PostedMode::kGaLog);
  o.storm_rate = 1;
  o.storm_per_us = 10;
  o.baseline = false;
  return o;
}

TEST(HostSimDefects, GaLogRestartWithoutRescanLosesWakeupsAndFails) {
  for (uint64_t seed : {1, 2}) {
    SCOPED_TRACE(seed);
    const Report healthy = RunSimulation(Stormy(seed), nullptr);
    ExpectEveryInterruptDelivered(healthy);
    ASSERT_GT(Metric(healthy, "x86_ga_log", "overflows"), 0) << "the storms overflow the log";
    EXPECT_GT(Metric(healthy, "x86_ga_log", "rescan_wakes"), 0);

    SimOptions o = Stormy(seed);
    o.hooks.ga_log_restart_without_rescan = true;
    const Report broken = RunSimulation(o, nullptr);
    EXPECT_FALSE(broken.ok());
    EXPECT_GT(Metric(broken, "x86_wakeups", "lost_wakeups"), 0);
    EXPECT_NE(Failures(broken).find("wakeups lost"), std::string::npos) << Failures(broken);
  }
}

TEST(HostSimDefects, DroppedWakeupsAreReportedAsLostInterrupts) {
  SimOptions o = Short(3, Arch::kX86, PostedMode::kGappi);
  o.hooks.drop_every_nth_wake = 3;
  const Report r = RunSimulation(o, nullptr);
  EXPECT_FALSE(r.ok());
  EXPECT_GT(Metric(r, "x86_wakeups", "dropped_wakes_defect"), 0);
  const ComponentCount* msi = Component(r, "x86_posted_msi");
  ASSERT_NE(msi, nullptr);
  EXPECT_GT(msi->lost, 0u);
  EXPECT_EQ(msi->delivered + msi->lost, msi->raised);
  EXPECT_NE(Failures(r).find("x86 posted MSIs: "), std::string::npos) << Failures(r);
}

TEST(HostSimDefects, TheCommandExitsOneAndNamesTheLoss) {
  std::ostringstream out, err;
  TestHooks hooks;
  hooks.ga_log_restart_without_rescan = true;
  const int status = HostSimMain({"--arch=x86", "--mode=galog", "--duration_us=20000",
                                  "--storm_rate=1", "--storm_per_us=10", "--seed=1"},
                                 out, err, hooks);
  EXPECT_EQ(status, 1);
  EXPECT_NE(err.str().find("FAIL: x86:"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("wakeups lost"), std::string::npos) << err.str();
  EXPECT_NE(out.str().find("FAIL:"), std::string::npos);
}

}  // namespace
}  // namespace host_sim
