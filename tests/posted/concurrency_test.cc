// SPDX-License-Identifier: MIT
// The property test's core claims with real threads (run under --config=tsan; tagged
// "concurrency"): pCPU threads load / put / block / unblock their vCPUs and take interrupts (the
// GA log handler on CPU 0, the wakeup vectors everywhere), a device thread fires IRTEs, and a
// binder thread rebinds them to other vCPUs and remaps them, with injected command failures.
// Each round ends at a quiescent checkpoint: devices stopped, every latched interrupt handled;
// then every sleeping vCPU with a pending IRR must have been woken, and the router's ownership
// invariants must hold. Seed: IRQVIRT_STRESS_SEED. Bounded by operation counts, not time.
// The same threads and checks run on both IOMMUs: the AMD router (GA log, GAPPI) and the VT-d
// router (PI descriptors, wakeup vectors; injected invalidation-wait failures); only the stack,
// what "an interrupt is pending" means and how the guest consumes it differ (the Stack types).
#include <atomic>
#include <barrier>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "hw/fake/threaded_platform.h"
#include "tests/common/seed.h"
#include "tests/posted/posted_harness.h"
#include "tests/posted/vtd_harness.h"

namespace irqvirt::posted::testing {
namespace {

using hw::fake::ThreadedPlatform;
using wakeup::BlockDecision;

constexpr int kCpus = 4;
constexpr uint32_t kVcpus = 12;
constexpr uint16_t kIrtes = 16;
constexpr uint16_t kDev = 0x40;
constexpr int kRounds = 15;
constexpr int kOpsPerRound = 150;

enum class St { kIdle, kRunning, kSleeping };

// The AMD stack: a vAPIC page per vCPU; command completion stores dropped to inject failures.
struct AmdStack {
  explicit AmdStack(bool gappi)
      : harness([&] {
          HarnessOptions o = gappi ? GappiOptions() : HarnessOptions{};
          o.num_cpus = kCpus;
          o.max_vcpus = kVcpus;
          o.vectors_per_cpu = gappi ? 2 : 1;
          o.poll_limit = 2000;
          return o;
        }()) {}
  absl::Status Init(ThreadedPlatform& platform) {
    if (absl::Status s = harness.Init(platform); !s.ok()) return s;
    if (absl::Status s = harness.iommu().AttachDevice(kDev); !s.ok()) return s;
    return harness.AddVcpus(kVcpus);
  }
  auto& router() { return harness.router(); }
  void Fire(IrteRef irte) { harness.Fire(irte); }
  bool Pending(VcpuId v) const { return harness.AnyIrr(v); }
  void Consume(VcpuId v) { harness.DrainIrr(v); }
  void FailNextWrites(uint32_t n) { harness.fake().DropCompletionStores(n); }

  PostedHarness<ThreadedPlatform> harness;
};

// The VT-d stack: a PI descriptor per vCPU; invalidation-wait stores dropped to inject failures.
struct VtdStack {
  // `own_queues`: as many wakeup vectors per CPU as each pCPU thread has vCPUs, so that every
  // vCPU a thread parks has a queue to itself and a missed notification is never covered by a
  // scan for another vCPU's (the block re-check then has nothing to hide behind).
  explicit VtdStack(bool own_queues)
      : harness([&] {
          VtdHarnessOptions o;
          o.num_cpus = kCpus;
          o.max_vcpus = kVcpus;
          o.vectors_per_cpu = own_queues ? kVcpus / kCpus : 1;
          o.poll_limit = 2000;
          return o;
        }()) {}
  absl::Status Init(ThreadedPlatform& platform) {
    if (absl::Status s = harness.Init(platform); !s.ok()) return s;
    return harness.AddVcpus(kVcpus);
  }
  auto& router() { return harness.router(); }
  void Fire(IrteRef irte) { harness.Fire(irte); }
  bool Pending(VcpuId v) const { return harness.control(v).on() != 0 || !harness.PirEmpty(v); }
  void Consume(VcpuId v) { harness.DrainPir(v); }
  void FailNextWrites(uint32_t n) { harness.fake().DropWaitStores(n); }

  VtdHarness<ThreadedPlatform> harness;
};

template <typename Stack>
struct World {
  explicit World(bool variant) : platform(kCpus, &World::Wake, this), stack(variant) {}

  static void Wake(void* context, uint32_t vcpu) {
    static_cast<World*>(context)->woken[vcpu].store(true, std::memory_order_seq_cst);
  }

  ThreadedPlatform platform;
  Stack stack;
  std::atomic<bool> woken[kVcpus] = {};
  St state[kVcpus] = {};  // written by the owning pCPU thread; read by the checker after barriers
  std::atomic<uint64_t> lost_wakeups{0};
  std::atomic<uint64_t> sleeps{0};
  std::atomic<uint64_t> rebinds{0};
  std::atomic<int> cpus_done{0};  // pCPU threads finished with this round's operations
};

// `variant`: GAPPI mode (AMD), a wakeup queue per parked vCPU (VT-d).
template <typename Stack>
void RunStress(bool variant, uint64_t seed_salt) {
  World<Stack> w(variant);
  ASSERT_TRUE(w.stack.Init(w.platform).ok());
  auto& router = w.stack.router();
  for (uint16_t i = 0; i < kIrtes; ++i) {
    ASSERT_TRUE(router.Bind({kDev, i}, i % kVcpus, static_cast<uint8_t>(0x40 + i)).ok());
  }
  const uint64_t seed = irqvirt::testing::SeedFromEnv("IRQVIRT_STRESS_SEED", 20261121) ^ seed_salt;
  std::barrier sync(kCpus + 2);

  std::vector<std::thread> threads;
  for (int cpu = 0; cpu < kCpus; ++cpu) {
    threads.emplace_back([&, cpu] {
      w.platform.BindCurrentThread(cpu);
      std::mt19937_64 rng(seed + cpu);
      for (int round = 0; round < kRounds; ++round) {
        for (int op = 0; op < kOpsPerRound; ++op) {
          const VcpuId v = static_cast<VcpuId>(cpu + kCpus * (rng() % (kVcpus / kCpus)));
          St& st = w.state[v];
          if (st == St::kSleeping) {
            if (w.woken[v].load(std::memory_order_seq_cst)) {
              EXPECT_TRUE(router.Unblock(v, cpu).ok());
              w.stack.Consume(v);
              st = St::kRunning;
            }
          } else {
            switch (rng() % 3) {
              case 0:
                EXPECT_TRUE(router.Load(v, cpu).ok());
                w.stack.Consume(v);
                st = St::kRunning;
                break;
              case 1:
                EXPECT_TRUE(router.Put(v).ok());
                st = St::kIdle;
                break;
              default: {
                w.woken[v].store(false, std::memory_order_seq_cst);
                const BlockOutcome b = router.Block(v, cpu);
                if (b.decision == BlockDecision::kSleep) {
                  st = St::kSleeping;
                  w.sleeps.fetch_add(1);
                } else if (b.decision == BlockDecision::kPendingDontSleep) {
                  EXPECT_TRUE(router.Unblock(v, cpu).ok());
                  w.stack.Consume(v);
                  st = St::kRunning;
                }  // an injected failure: nothing changed, keep going
                break;
              }
            }
          }
          w.platform.PollInterrupts();
        }
        w.cpus_done.fetch_add(1);
        sync.arrive_and_wait();  // devices and binder stopped too
        w.platform.PollInterrupts();
        sync.arrive_and_wait();  // every latched interrupt handled
        sync.arrive_and_wait();  // checker done
      }
    });
  }
  threads.emplace_back([&] {  // device
    std::mt19937_64 rng(seed + 100);
    for (int round = 0; round < kRounds; ++round) {
      // Fire for as long as the pCPU threads work (bounded), so interrupts race every transition.
      for (int op = 0; op < 200 * kOpsPerRound && w.cpus_done.load() < kCpus; ++op) {
        const uint16_t i = static_cast<uint16_t>(rng() % kIrtes);
        w.stack.Fire({kDev, i});
        std::this_thread::yield();
      }
      sync.arrive_and_wait();
      sync.arrive_and_wait();
      sync.arrive_and_wait();
    }
  });
  threads.emplace_back([&] {  // binder, with injected command failures
    std::mt19937_64 rng(seed + 200);
    for (int round = 0; round < kRounds; ++round) {
      for (int op = 0; op < kOpsPerRound / 5; ++op) {
        const uint16_t i = static_cast<uint16_t>(rng() % kIrtes);
        if (rng() % 6 == 0) w.stack.FailNextWrites(1);
        if (rng() % 10 == 0) {
          (void)router.Remap({kDev, i}, 0xd0, w.platform.apic_id(0));
        } else if (router.Bind({kDev, i}, static_cast<VcpuId>(rng() % kVcpus),
                               static_cast<uint8_t>(0x40 + i)).ok()) {
          w.rebinds.fetch_add(1);
        }
        std::this_thread::yield();
      }
      w.stack.FailNextWrites(0);
      sync.arrive_and_wait();
      sync.arrive_and_wait();
      // The checker: quiescent now.
      for (VcpuId v = 0; v < kVcpus; ++v) {
        if (w.state[v] == St::kSleeping && w.stack.Pending(v) &&
            !w.woken[v].load(std::memory_order_seq_cst)) {
          w.lost_wakeups.fetch_add(1);
          ADD_FAILURE() << "round " << round << ": vCPU " << v
                        << " sleeps with an interrupt pending";
        }
      }
      const absl::Status s = router.CheckInvariants();
      EXPECT_TRUE(s.ok()) << s;
      w.cpus_done.store(0);
      sync.arrive_and_wait();
    }
  });
  for (auto& t : threads) t.join();

  EXPECT_EQ(w.lost_wakeups.load(), 0u);
  EXPECT_EQ(w.platform.lock_violations(), 0u);
  EXPECT_GT(w.sleeps.load(), 0u);
  EXPECT_GT(w.rebinds.load(), 0u);
}

TEST(PostedConcurrencyTest, GaLogModeLosesNoWakeupUnderConcurrency) {
  RunStress<AmdStack>(false, 0);
}
TEST(PostedConcurrencyTest, GappiModeLosesNoWakeupUnderConcurrency) {
  RunStress<AmdStack>(true, 0x9a991);
}
TEST(PostedConcurrencyTest, VtdLosesNoWakeupUnderConcurrency) { RunStress<VtdStack>(true, 0x7d7d); }
TEST(PostedConcurrencyTest, VtdSharedQueuesLoseNoWakeupUnderConcurrency) {
  RunStress<VtdStack>(false, 0x7d7e);
}

}  // namespace
}  // namespace irqvirt::posted::testing
