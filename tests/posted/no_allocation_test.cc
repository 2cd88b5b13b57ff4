// SPDX-License-Identifier: MIT
// The router's hot paths allocate nothing: load / put / block / unblock with their IRTE updates
// (including GAPPIDis invalidations through the command buffer), and the GA log interrupt handler
// with its overflow rescan; on VT-d, load / put / block / unblock (PI descriptor updates, parking)
// and the wakeup handler. The fake IOMMU's own bookkeeping is primed before measuring.
#include <gtest/gtest.h>

#include "tests/common/allocation_counter.h"
#include "tests/posted/posted_harness.h"
#include "tests/posted/vtd_harness.h"

namespace irqvirt::posted::testing {
namespace {

using irqvirt::testing::CountAllocations;

constexpr uint16_t kDev = 0x60;

void Exercise(LogicalStack& s, int rounds) {
  auto& h = s.harness;
  for (int r = 0; r < rounds; ++r) {
    for (VcpuId v = 0; v < 4; ++v) {
      (void)h.router().Load(v, (v + r) % 4);
      (void)h.router().Put(v);
      (void)h.router().Load(v, (v + r + 1) % 4);
      h.DrainIrr(v);
      (void)h.router().Block(v, (v + r + 1) % 4);
      for (uint16_t k = 0; k < 4; ++k) h.Fire({kDev, static_cast<uint16_t>(4 * v + k)});
      (void)h.router().Unblock(v, (v + r) % 4);
    }
  }
}

void BindFourVcpus(LogicalStack& s) {
  auto& h = s.harness;
  ASSERT_TRUE(h.Init(s.platform).ok());
  ASSERT_TRUE(h.iommu().AttachDevice(kDev).ok());
  ASSERT_TRUE(h.AddVcpus(4).ok());
  for (uint16_t i = 0; i < 16; ++i) {
    ASSERT_TRUE(h.router().Bind({kDev, i}, i / 4, static_cast<uint8_t>(0x40 + i)).ok());
  }
}

TEST(PostedNoAllocation, CounterSeesAllocations) {
  EXPECT_TRUE(irqvirt::testing::CounterSeesAllocations());
}

TEST(PostedNoAllocation, GaLogModeHotPaths) {
  LogicalStack s;
  BindFourVcpus(s);
  Exercise(s, 2);  // primes the fake's IRTE cache
  EXPECT_EQ(CountAllocations([&] { Exercise(s, 5); }), 0u);
  EXPECT_GT(s.platform.total_wakes(), 0u);
}

TEST(PostedNoAllocation, GaLogOverflowRescan) {
  LogicalStack s;
  BindFourVcpus(s);
  Exercise(s, 1);
  for (VcpuId v = 0; v < 4; ++v) {
    s.harness.DrainIrr(v);
    ASSERT_EQ(s.harness.router().Block(v, 1).decision, wakeup::BlockDecision::kSleep);
  }
  s.platform.SetIrqsDisabled(kGaLogCpu, true);
  for (int i = 0; i < 600; ++i) s.harness.Fire({kDev, static_cast<uint16_t>(i % 16)});
  EXPECT_EQ(CountAllocations([&] { s.platform.SetIrqsDisabled(kGaLogCpu, false); }), 0u);
  EXPECT_EQ(s.harness.router().stats().ga_log_overflows, 1u);
}

TEST(PostedNoAllocation, GappiModeHotPaths) {
  LogicalStack s(GappiOptions());
  BindFourVcpus(s);
  Exercise(s, 2);
  const uint64_t invalidations = s.harness.fake().irt_invalidations();
  EXPECT_EQ(CountAllocations([&] { Exercise(s, 5); }), 0u);
  EXPECT_GT(s.harness.fake().irt_invalidations(), invalidations);  // commands were in the region
  EXPECT_GT(s.platform.total_wakes(), 0u);
}

// Load, put, block (both outcomes: an interrupt pending at block time backs out), the wakeup
// handler, preempted-while-blocked and unblock on another CPU.
void ExerciseVtd(VtdLogicalStack& s, int rounds) {
  auto& h = s.harness;
  for (int r = 0; r < rounds; ++r) {
    for (VcpuId v = 0; v < 4; ++v) {
      const int cpu = static_cast<int>((v + r) % 4);
      (void)h.router().Load(v, cpu);
      (void)h.router().Put(v);
      (void)h.router().Load(v, (cpu + 1) % 4);
      h.DrainPir(v);
      (void)h.router().Block(v, (cpu + 1) % 4);
      (void)h.router().Put(v);
      for (uint16_t k = 0; k < 4; ++k) h.Fire({kDev, static_cast<uint16_t>(4 * v + k)});
      (void)h.router().Block(v, (cpu + 1) % 4);  // already parked: refused, rolled back
      (void)h.router().Unblock(v, cpu);
      h.Fire({kDev, static_cast<uint16_t>(4 * v)});
      (void)h.router().Block(v, cpu);  // pending: backs out
      (void)h.router().Unblock(v, cpu);
    }
  }
}

TEST(PostedNoAllocation, VtdHotPaths) {
  VtdLogicalStack s;
  ASSERT_TRUE(s.harness.Init(s.platform).ok());
  ASSERT_TRUE(s.harness.AddVcpus(4).ok());
  for (uint16_t i = 0; i < 16; ++i) {
    ASSERT_TRUE(s.harness.router().Bind({kDev, i}, i / 4, static_cast<uint8_t>(0x40 + i)).ok());
  }
  ExerciseVtd(s, 2);  // primes the fake unit's IRTE cache
  const uint64_t wakes = s.platform.total_wakes();
  EXPECT_EQ(CountAllocations([&] { ExerciseVtd(s, 5); }), 0u);
  EXPECT_GT(s.platform.total_wakes(), wakes);  // the wakeup handler ran in the region
}

}  // namespace
}  // namespace irqvirt::posted::testing
