// SPDX-License-Identifier: MIT
// Park, Unpark, PrepareToBlock and the wakeup handler allocate nothing: every operator new in
// this binary is counted while a measured region runs.
#include <gtest/gtest.h>

#include "hw/fake/logical_platform.h"
#include "irqvirt/wakeup/wakeup_queues.h"
#include "tests/common/allocation_counter.h"
#include "tests/wakeup/vapic_pages.h"

namespace irqvirt::wakeup {
namespace {

using Queues = WakeupQueues<hw::fake::LogicalPlatform, VapicIrrPending>;

using irqvirt::testing::CountAllocations;

TEST(NoAllocation, CounterSeesAllocations) {
  EXPECT_TRUE(irqvirt::testing::CounterSeesAllocations());
}

TEST(NoAllocation, ParkUnparkBlockAndHandler) {
  hw::fake::LogicalPlatform platform(4, 64);
  testing::VapicPages pages(64);
  auto q = Queues::Create(platform, {.num_cpus = 4, .vectors_per_cpu = 4, .first_vector = 0xe0,
                                     .max_vcpus = 64});
  ASSERT_TRUE(q.ok());
  for (uint32_t v = 0; v < 64; ++v) ASSERT_TRUE((*q)->AddVcpu(v, pages.state(v)).ok());
  Queues& queues = **q;
  const size_t n = CountAllocations([&] {
    for (int round = 0; round < 3; ++round) {
      for (uint32_t v = 0; v < 64; ++v) queues.Park(v, static_cast<int>(v % 4));
      for (uint32_t v = 0; v < 64; v += 3) pages.page(v).Set(hw::x86::ApicVectorReg::kIrr, 0x41);
      for (int cpu = 0; cpu < 4; ++cpu) {
        for (int vec = 0xe0; vec < 0xe4; ++vec) {
          platform.RaiseInterrupt(cpu, static_cast<uint8_t>(vec));  // handler, via the platform
        }
      }
      for (uint32_t v = 0; v < 64; ++v) queues.Unpark(v);
      for (uint32_t v = 0; v < 64; ++v) {
        platform.SetCurrentCpu(static_cast<int>(v % 4));
        queues.PrepareToBlock(v, static_cast<int>(v % 4), [](VcpuId, int, uint8_t) {});
        queues.Unpark(v);
        pages.page(v).Clear(hw::x86::ApicVectorReg::kIrr, 0x41);
      }
    }
  });
  EXPECT_EQ(n, 0u);
  EXPECT_GT(platform.total_wakes(), 0u) << "the handler really ran";
}

}  // namespace
}  // namespace irqvirt::wakeup
