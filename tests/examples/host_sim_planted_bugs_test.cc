// SPDX-License-Identifier: MIT
// host_sim is an oracle: with each bug class planted in irqvirt (irqvirt/planted_bug.h; this
// test links a copy of the library built with IRQVIRT_PLANTED_BUGS), the documented check run
// (`host_sim --check --seed=N`) fails on every one of seeds 1-20, and says what went wrong with
// the story of the interrupt, vCPU or line it caught. Without a planted bug the same runs pass.
#include <sstream>
#include <string>
#include <vector>

#include "examples/host_sim/simulation.h"
#include "gtest/gtest.h"
#include "irqvirt/planted_bug.h"

namespace host_sim {
namespace {

using irqvirt::PlantedBug;

struct Planted {
  PlantedBug bug;
  const char* name;
  const char* expect;  // a phrase the failure must contain
};

constexpr int kSeeds = 20;

struct CheckRun {
  int status;
  std::string err;
};

CheckRun RunCheck(int seed) {
  std::ostringstream out, err;
  const int status =
      HostSimMain({"--check", "--seed=" + std::to_string(seed)}, out, err);
  return {status, err.str()};
}

class PlantedBugTest : public ::testing::TestWithParam<Planted> {
 protected:
  void TearDown() override { irqvirt::PlantBug(PlantedBug::kNone); }
};

TEST_P(PlantedBugTest, TheCheckRunFailsOnEverySeedAndTellsTheStory) {
  const Planted p = GetParam();
  irqvirt::PlantBug(p.bug);
  for (int seed = 1; seed <= kSeeds; ++seed) {
    const CheckRun r = RunCheck(seed);
    EXPECT_EQ(r.status, 1) << p.name << " went unnoticed with --seed=" << seed;
    EXPECT_NE(r.err.find(p.expect), std::string::npos)
        << p.name << ", seed " << seed << ": the failure does not say \"" << p.expect << "\":\n"
        << r.err;
    EXPECT_NE(r.err.find("story of"), std::string::npos) << p.name << ", seed " << seed << ":\n"
                                                         << r.err;
    if (seed == 1) std::cout << "--- " << p.name << ", seed 1:\n" << r.err.substr(0, 3000) << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryBugClass, PlantedBugTest,
    ::testing::Values(
        Planted{PlantedBug::kWakeupHandlerStopsAfterFirstWake, "WakeupHandlerStopsAfterFirstWake",
                "no wakeup coming"},
        Planted{PlantedBug::kGaLogHandlerStopsAfterFirstWake, "GaLogHandlerStopsAfterFirstWake",
                "no wakeup coming"},
        Planted{PlantedBug::kWakeupHandlerSkipsLastParked, "WakeupHandlerSkipsLastParked",
                "no wakeup coming"},
        Planted{PlantedBug::kBlockSkipsPendingRecheck, "BlockSkipsPendingRecheck",
                "no wakeup coming"},
        Planted{PlantedBug::kVgicDropsEdgeWhileActive, "VgicDropsEdgeWhileActive", "dropped"},
        Planted{PlantedBug::kDoorbellStaysOnHomeCpu, "DoorbellStaysOnHomeCpu", "but it runs on"},
        Planted{PlantedBug::kIoapicNoRedeliveryAtEoi, "IoapicNoRedeliveryAtEoi",
                "yet the I/O APIC delivered nothing"},
        Planted{PlantedBug::kVgicNoResampleAtFold, "VgicNoResampleAtFold", "arm64 GICv3"},
        Planted{PlantedBug::kGicv5NoLevelRepend, "Gicv5NoLevelRepend", "arm64 GICv5"},
        Planted{PlantedBug::kVgicNeverSetsNpie, "VgicNeverSetsNpie", "read a spurious IAR"}),
    [](const ::testing::TestParamInfo<Planted>& info) { return std::string(info.param.name); });

// The same runs pass without a planted bug (so a failure above is the bug's, not the run's).
TEST(PlantedBugs, WithoutABugTheCheckRunPasses) {
  irqvirt::PlantBug(PlantedBug::kNone);
  for (int seed = 1; seed <= 3; ++seed) {
    const CheckRun r = RunCheck(seed);
    EXPECT_EQ(r.status, 0) << "seed " << seed << ":\n" << r.err;
  }
}

}  // namespace
}  // namespace host_sim
