// Park, Unpark, PrepareToBlock and the wakeup handler allocate nothing: every operator new in
// this binary is counted while a measured region runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "hw/fake/logical_platform.h"
#include "irqvirt/wakeup/wakeup_queues.h"
#include "tests/wakeup/vapic_pages.h"

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace irqvirt::wakeup {
namespace {

using Queues = WakeupQueues<hw::fake::LogicalPlatform, VapicIrrPending>;

size_t CountAllocations(const std::function<void()>& fn) {
  allocations = 0;
  counting = true;
  fn();
  counting = false;
  return allocations;
}

TEST(NoAllocation, CounterSeesAllocations) {
  // The instrument works: a real allocation in the measured region is counted.
  static int* volatile sink;  // volatile: the compiler may not elide the allocation
  EXPECT_GE(CountAllocations([] {
              sink = new int(1);
              delete sink;
            }),
            1u);
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
