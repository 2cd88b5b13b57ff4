// SPDX-License-Identifier: MIT
// The differential scenarios on the fake: every acknowledge the guest expects (worked out by hand
// in scenarios.h), every interrupt EOIed/deactivated once, the VM idle at the end, no
// live-lock, in all three trap profiles. tools/qemu_gicv3/run.sh runs the same on QEMU.
#include <string>

#include "gtest/gtest.h"
#include "tests/vgic/differential/fake_run.h"

namespace irqvirt::vgic::differential {
namespace {

class DifferentialScenarioOnFake
    : public ::testing::TestWithParam<std::tuple<Profile, uint32_t>> {};

TEST_P(DifferentialScenarioOnFake, PassesWithNoFailedExpectation) {
  const auto [profile, index] = GetParam();
  static ObservationLog log;
  log.Clear();
  FakeRun run(profile, log);
  EXPECT_EQ(run.Run(index), 0) << log.text();
  EXPECT_EQ(std::string(log.text()).find("FAIL"), std::string::npos) << log.text();
  EXPECT_FALSE(log.overflowed());
  EXPECT_EQ(run.cpu().bad_accesses(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllScenarios, DifferentialScenarioOnFake,
    ::testing::Combine(::testing::ValuesIn(kProfiles), ::testing::Range(0u, kNumScenarios)),
    [](const auto& info) {
      std::string name = std::string(ProfileName(std::get<0>(info.param))) + "_" +
                         kScenarios[std::get<1>(info.param)].name;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace irqvirt::vgic::differential
