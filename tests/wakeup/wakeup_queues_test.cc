// SPDX-License-Identifier: MIT
// Deterministic tests of the wakeup queues on the logical fake platform: park/unpark/handler,
// the GAPPI RFC review findings, the block/post race windows, CPU offline, destroy while parked,
// and sharded wakeup vectors.
#include "irqvirt/wakeup/wakeup_queues.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "hw/fake/logical_platform.h"
#include "hw/intel/pi_desc.h"
#include "tests/wakeup/vapic_pages.h"

namespace irqvirt::wakeup {
namespace {

using hw::fake::LogicalPlatform;
using hw::x86::ApicVectorReg;
using ::testing::IsEmpty;
using AmdQueues = WakeupQueues<LogicalPlatform, VapicIrrPending>;
using IntelQueues = WakeupQueues<LogicalPlatform, PiDescPending>;

constexpr uint8_t kWakeupVector = 0xf1;
constexpr int kCpus = 4;

// A guest-mode IRTE as the device-side model sees it: where and how the IOMMU delivers.
struct PostedRoute {
  bool is_run = true;
  int dest_cpu = 0;
  uint8_t wakeup_vector = 0;
};

class AmdWakeupTest : public ::testing::Test {
 protected:
  AmdWakeupTest() : platform_(kCpus), pages_(16), routes_(16) {}

  void SetUp() override {
    auto q = AmdQueues::Create(platform_, {.num_cpus = kCpus,
                                           .vectors_per_cpu = 1,
                                           .first_vector = kWakeupVector,
                                           .max_vcpus = 16});
    ASSERT_TRUE(q.ok()) << q.status();
    queues_ = std::move(*q);
    for (uint32_t v = 0; v < 16; ++v) ASSERT_TRUE(queues_->AddVcpu(v, pages_.state(v)).ok());
  }

  // The IOMMU's guest-mode delivery: IRR first, then (vCPU not running) the wakeup vector to the
  // IRTE's destination CPU. With IsRun it would ring the doorbell of a running vCPU instead.
  void PostDeviceInterrupt(uint32_t vcpu, uint8_t guest_vector) {
    pages_.page(vcpu).Set(ApicVectorReg::kIrr, guest_vector);
    const PostedRoute& r = routes_[vcpu];
    if (!r.is_run) platform_.RaiseInterrupt(r.dest_cpu, r.wakeup_vector);
  }

  auto Retarget() {
    return [this](VcpuId vcpu, int cpu, uint8_t vector) {
      routes_[vcpu] = {.is_run = false, .dest_cpu = cpu, .wakeup_vector = vector};
    };
  }

  void Block(uint32_t vcpu, int cpu) {
    platform_.SetCurrentCpu(cpu);
    const BlockResult r = queues_->PrepareToBlock(vcpu, cpu, Retarget());
    ASSERT_EQ(r.decision, BlockDecision::kSleep);
  }

  LogicalPlatform platform_;
  testing::VapicPages pages_;
  std::vector<PostedRoute> routes_;
  std::unique_ptr<AmdQueues> queues_;
};

TEST_F(AmdWakeupTest, HandlerWakesOnlyTheVcpuWithAPendingInterrupt) {
  Block(0, 1);
  Block(1, 1);
  Block(2, 1);
  EXPECT_EQ(queues_->QueueLength(1, kWakeupVector), 3u);
  PostDeviceInterrupt(1, 0x41);
  EXPECT_EQ(platform_.wake_count(1), 1u);
  EXPECT_EQ(platform_.wake_count(0), 0u);
  EXPECT_EQ(platform_.wake_count(2), 0u);
  EXPECT_EQ(platform_.total_wakes(), 1u);
  EXPECT_THAT(platform_.violations(), IsEmpty());
  EXPECT_TRUE(queues_->CheckInvariants().ok());
}

TEST_F(AmdWakeupTest, HandlerReportsWhatItScanned) {
  Block(3, 2);
  Block(4, 2);
  pages_.page(4).Set(ApicVectorReg::kIrr, 0x30);
  platform_.SetIrqsDisabled(2, true);  // called as the interrupt would be
  const HandlerStats s = queues_->HandleWakeupVector(2, kWakeupVector);
  platform_.SetIrqsDisabled(2, false);
  EXPECT_EQ(s.scanned, 2u);
  EXPECT_EQ(s.woken, 1u);
  // Another CPU's queue is untouched by this CPU's vector.
  EXPECT_EQ(queues_->QueueLength(1, kWakeupVector), 0u);
}

TEST_F(AmdWakeupTest, UnparkRemovesAndKeepsOthersReachable) {
  for (uint32_t v = 0; v < 5; ++v) Block(v, 0);
  queues_->Unpark(0);  // first entry: the last one moves into its place
  queues_->Unpark(2);
  EXPECT_EQ(queues_->ParkedCpu(0), -1);
  EXPECT_EQ(queues_->QueueLength(0, kWakeupVector), 3u);
  EXPECT_TRUE(queues_->CheckInvariants().ok());
  for (uint32_t v : {1u, 3u, 4u}) {
    PostDeviceInterrupt(v, 0x50);
    EXPECT_EQ(platform_.wake_count(v), 1u) << "vCPU " << v;
  }
  queues_->Unpark(0);  // not parked: no-op
  EXPECT_TRUE(queues_->CheckInvariants().ok());
}

TEST_F(AmdWakeupTest, AVcpuIsOnAtMostOneQueue) {
  Block(5, 1);
  EXPECT_EQ(queues_->Park(5, 2), ParkError::kAlreadyParked);
  EXPECT_EQ(queues_->ParkedCpu(5), 1);
  EXPECT_EQ(queues_->QueueLength(2, kWakeupVector), 0u);
  EXPECT_EQ(ParkErrorToStatus(ParkError::kAlreadyParked, 5, 2).message(),
            "vCPU 5: already parked; unpark before parking on CPU 2");
  EXPECT_TRUE(queues_->CheckInvariants().ok());
}

// Review finding: an unknown or negative pCPU must never be used as an index.
TEST_F(AmdWakeupTest, UnknownCpuIsRefusedAndChangesNothing) {
  for (int bad : {-1, -100, kCpus, 1000}) {
    EXPECT_EQ(queues_->Park(0, bad), ParkError::kUnknownCpu) << bad;
    const BlockResult r = queues_->PrepareToBlock(0, bad, Retarget());
    EXPECT_EQ(r.decision, BlockDecision::kNotParked);
    EXPECT_EQ(r.error, ParkError::kUnknownCpu);
    EXPECT_EQ(queues_->HandleWakeupVector(bad, kWakeupVector).scanned, 0u);
    EXPECT_FALSE(queues_->OfflineCpu(bad, Retarget()).ok());
    EXPECT_FALSE(queues_->OnlineCpu(bad).ok());
  }
  EXPECT_EQ(queues_->ParkedCpu(0), -1);
  EXPECT_TRUE(routes_[0].is_run) << "retarget must not run for a refused park";
  EXPECT_EQ(ParkErrorToStatus(ParkError::kUnknownCpu, 0, -1).message(), "vCPU 0: unknown CPU -1");
  EXPECT_EQ(queues_->Park(99, 0), ParkError::kUnknownVcpu);
  EXPECT_EQ(queues_->HandleWakeupVector(0, 0x20).scanned, 0u);  // not one of our vectors
  EXPECT_TRUE(queues_->CheckInvariants().ok());
}

// Review finding: the queue lock is only ever taken with interrupts off.
TEST_F(AmdWakeupTest, QueueLockNeverHeldWithInterruptsOn) {
  Block(0, 0);
  Block(1, 0);
  PostDeviceInterrupt(0, 0x41);
  queues_->Unpark(0);
  ASSERT_TRUE(queues_->OfflineCpu(0, Retarget()).ok());
  ASSERT_TRUE(queues_->OnlineCpu(0).ok());
  ASSERT_TRUE(queues_->RemoveVcpu(1).ok());
  EXPECT_THAT(platform_.violations(), IsEmpty());
}

// The detector behind the previous test works: the fake flags a handler-side lock taken with
// interrupts on, and the deadlock that follows when the handler interrupts the holder.
TEST(LogicalPlatformDetector, FlagsHandlerLockTakenWithInterruptsOn) {
  LogicalPlatform p(1);
  LogicalPlatform::SpinLock lock;
  p.LockIrqsOff(lock);  // wrong: interrupts are on
  EXPECT_EQ(p.violations().size(), 1u);
  struct Ctx {
    LogicalPlatform* p;
    LogicalPlatform::SpinLock* lock;
  } ctx{&p, &lock};
  EXPECT_TRUE(p.RegisterVectorHandler(
                   0xf1,
                   [](void* c, int, uint8_t) {
                     auto* x = static_cast<Ctx*>(c);
                     x->p->LockIrqsOff(*x->lock);
                     x->p->UnlockIrqsOff(*x->lock);
                   },
                   &ctx)
                  .ok());
  p.RaiseInterrupt(0, 0xf1);  // handler spins on the lock its own CPU holds
  p.UnlockIrqsOff(lock);
  ASSERT_EQ(p.violations().size(), 2u);
  EXPECT_THAT(p.violations()[1], ::testing::HasSubstr("deadlock"));
}

// Review finding: the handler is unregistered before the queues' memory goes away.
TEST(WakeupQueuesLifetime, HandlerUnregisteredBeforeDestruction) {
  LogicalPlatform platform(2);
  testing::VapicPages pages(2);
  {
    auto q = AmdQueues::Create(platform, {.num_cpus = 2, .first_vector = 0xf1, .max_vcpus = 2});
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE((*q)->AddVcpu(0, pages.state(0)).ok());
    ASSERT_EQ((*q)->Park(0, 1), ParkError::kNone);
    EXPECT_TRUE(platform.handler_registered(0xf1));
  }
  EXPECT_FALSE(platform.handler_registered(0xf1));
  pages.page(0).Set(ApicVectorReg::kIrr, 0x41);
  platform.RaiseInterrupt(1, 0xf1);  // a late wakeup vector must not reach freed queues
  EXPECT_EQ(platform.spurious_interrupts(), 1u);
  EXPECT_EQ(platform.total_wakes(), 0u);
}

// The vector's owner keeps its handler and context: after the refused Create freed its queues,
// an interrupt on 0xf3 reaches the owner with the owner's context (issue 14, story 6: it used to
// get the freed queues' context, a use-after-free under ASAN).
TEST(WakeupQueuesLifetime, FailedRegistrationRollsBack) {
  LogicalPlatform platform(1);
  int owner_calls = 0;
  ASSERT_TRUE(platform
                  .RegisterVectorHandler(
                      0xf3, [](void* c, int, uint8_t) { ++*static_cast<int*>(c); }, &owner_calls)
                  .ok());
  auto q = AmdQueues::Create(
      platform, {.num_cpus = 1, .vectors_per_cpu = 4, .first_vector = 0xf1, .max_vcpus = 4});
  EXPECT_EQ(q.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(q.status().message()), ::testing::HasSubstr("vector 0xf3"));
  EXPECT_FALSE(platform.handler_registered(0xf1));
  EXPECT_FALSE(platform.handler_registered(0xf2));
  EXPECT_TRUE(platform.handler_registered(0xf3));
  platform.RaiseInterrupt(0, 0xf3);
  EXPECT_EQ(owner_calls, 1) << "the owner's handler ran with the owner's context";
}

TEST(WakeupQueuesConfig, RejectsBadConfigurations) {
  LogicalPlatform platform(2);
  auto create = [&](WakeupConfig c) { return AmdQueues::Create(platform, c).status(); };
  EXPECT_FALSE(create({.num_cpus = 0, .max_vcpus = 1}).ok());
  EXPECT_FALSE(create({.num_cpus = 3, .max_vcpus = 1}).ok()) << "more CPUs than the platform";
  EXPECT_FALSE(create({.num_cpus = 2, .vectors_per_cpu = 0, .max_vcpus = 1}).ok());
  EXPECT_FALSE(create({.num_cpus = 2, .vectors_per_cpu = 17, .max_vcpus = 1}).ok());
  EXPECT_FALSE(create({.num_cpus = 2, .vectors_per_cpu = 16, .first_vector = 0xf1, .max_vcpus = 1})
                   .ok())
      << "0xf1 + 15 > 0xff";
  EXPECT_FALSE(create({.num_cpus = 2, .first_vector = 0x10, .max_vcpus = 1}).ok());
  EXPECT_FALSE(create({.num_cpus = 2, .max_vcpus = 0}).ok());
  EXPECT_EQ(create({.num_cpus = 2, .vectors_per_cpu = 0, .max_vcpus = 1}).message(),
            "wakeup queues: vectors_per_cpu 0 outside 1..16");
}

TEST_F(AmdWakeupTest, AddVcpuErrors) {
  EXPECT_EQ(queues_->AddVcpu(3, pages_.state(3)).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(queues_->AddVcpu(16, pages_.state(0)).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(queues_->RemoveVcpu(3).ok());
  EXPECT_EQ(queues_->AddVcpu(3, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(queues_->AddVcpu(3, pages_.state(3)).ok());
  EXPECT_EQ(queues_->RemoveVcpu(77).code(), absl::StatusCode::kNotFound);
}

// --- the block/post race, AMD: check IRR after parking ---

// Window 1: the device posts before the vCPU parks (IRTE still says IsRun: doorbell only).
TEST_F(AmdWakeupTest, InterruptBeforeParkIsSeenByTheBlockCheck) {
  PostDeviceInterrupt(6, 0x41);
  platform_.SetCurrentCpu(2);
  const BlockResult r = queues_->PrepareToBlock(6, 2, Retarget());
  EXPECT_EQ(r.decision, BlockDecision::kPendingDontSleep);
}

// Window 2: parked, but the IRTE still points at the running state when the device posts.
TEST_F(AmdWakeupTest, InterruptBetweenParkAndRetargetIsSeenByTheBlockCheck) {
  platform_.SetCurrentCpu(2);
  const BlockResult r = queues_->PrepareToBlock(6, 2, [&](VcpuId v, int cpu, uint8_t vector) {
    PostDeviceInterrupt(6, 0x41);  // sees IsRun = 1: no wakeup vector
    Retarget()(v, cpu, vector);
  });
  EXPECT_EQ(r.decision, BlockDecision::kPendingDontSleep);
  EXPECT_EQ(platform_.total_wakes(), 0u) << "no wakeup vector was sent";
  EXPECT_EQ(queues_->ParkedCpu(6), 2) << "stays parked until the vCPU loads again";
}

// Window 3: retargeted; the device sends the wakeup vector, which finds the vCPU parked.
TEST_F(AmdWakeupTest, InterruptAfterRetargetWakesThroughTheHandler) {
  platform_.SetCurrentCpu(2);
  const BlockResult r = queues_->PrepareToBlock(6, 2, [&](VcpuId v, int cpu, uint8_t vector) {
    Retarget()(v, cpu, vector);
    PostDeviceInterrupt(6, 0x41);  // wakeup vector to CPU 2 (interrupts on: delivered now)
  });
  EXPECT_EQ(r.decision, BlockDecision::kPendingDontSleep);
  EXPECT_EQ(platform_.wake_count(6), 1u);
}

TEST_F(AmdWakeupTest, InterruptAfterSleepWakes) {
  Block(8, 3);
  PostDeviceInterrupt(8, 0x60);
  EXPECT_EQ(platform_.wake_count(8), 1u);
}

// --- the block/post race, Intel: check ON after switching NV, self-IPI ---

constexpr uint8_t kPostedIntrVector = 0xf2;

class IntelWakeupTest : public ::testing::Test {
 protected:
  IntelWakeupTest() : platform_(kCpus), descs_(4) {}

  void SetUp() override {
    auto q = IntelQueues::Create(platform_, {.num_cpus = kCpus,
                                             .first_vector = kWakeupVector,
                                             .max_vcpus = 4,
                                             .self_ipi_when_pending_at_block = true});
    ASSERT_TRUE(q.ok()) << q.status();
    queues_ = std::move(*q);
    for (uint32_t v = 0; v < 4; ++v) {
      descs_[v].control = hw::intel::PiControl()
                              .set_nv(kPostedIntrVector)
                              .set_ndst(hw::intel::PiControl::NdstForX2apic(platform_.apic_id(1)))
                              .raw();
      ASSERT_TRUE(queues_->AddVcpu(v, &descs_[v]).ok());
    }
  }

  // VT-d posting: PIR, then (SN clear, ON was clear) set ON and notify NV at NDST.
  void Post(uint32_t vcpu, uint8_t vector) {
    hw::intel::PiDesc& d = descs_[vcpu];
    d.PirSet(vector);
    hw::intel::PiControl old = d.LoadControl();
    for (;;) {
      if (old.sn() || old.on()) return;
      hw::intel::PiControl next = old;
      next.set_on(1);
      if (d.CompareExchangeControl(old, next)) break;
    }
    platform_.RaiseInterrupt(static_cast<int>(old.ndst() / 2), static_cast<uint8_t>(old.nv()));
  }

  // The embedder's retarget: NDST = this CPU, NV = the wakeup vector, in one CAS.
  auto SwitchToWakeup() {
    return [this](VcpuId vcpu, int cpu, uint8_t vector) {
      hw::intel::PiDesc& d = descs_[vcpu];
      hw::intel::PiControl old = d.LoadControl();
      hw::intel::PiControl next;
      do {
        next = old;
        next.set_nv(vector).set_ndst(hw::intel::PiControl::NdstForX2apic(platform_.apic_id(cpu)));
      } while (!d.CompareExchangeControl(old, next));
    };
  }

  LogicalPlatform platform_;
  std::vector<hw::intel::PiDesc> descs_;
  std::unique_ptr<IntelQueues> queues_;
};

TEST_F(IntelWakeupTest, PostBeforeNvSwitchIsCaughtByOnAndSelfIpi) {
  platform_.SetCurrentCpu(1);
  const BlockResult r = queues_->PrepareToBlock(0, 1, [&](VcpuId v, int cpu, uint8_t vector) {
    Post(0, 0x55);  // still NV = posted-interrupt vector: the notification is not a wakeup
    SwitchToWakeup()(v, cpu, vector);
  });
  EXPECT_EQ(r.decision, BlockDecision::kPendingDontSleep);
  EXPECT_EQ(platform_.self_ipis(), 1u);
  EXPECT_EQ(platform_.wake_count(0), 1u) << "the self-IPI ran the handler, which woke the vCPU";
}

TEST_F(IntelWakeupTest, PostAfterNvSwitchWakesThroughTheHandler) {
  platform_.SetCurrentCpu(1);
  const BlockResult r = queues_->PrepareToBlock(1, 1, SwitchToWakeup());
  ASSERT_EQ(r.decision, BlockDecision::kSleep);
  EXPECT_EQ(platform_.self_ipis(), 0u);
  Post(1, 0x66);
  EXPECT_EQ(platform_.wake_count(1), 1u);
  EXPECT_EQ(platform_.wake_count(0), 0u);
}

TEST_F(IntelWakeupTest, SuppressedNotificationWithPirStillCountsAsPending) {
  descs_[2].control = hw::intel::PiControl::FromRaw(descs_[2].control).set_sn(1).raw();
  Post(2, 0x70);  // SN: PIR set, no ON, no notification
  platform_.SetCurrentCpu(1);
  EXPECT_EQ(queues_->PrepareToBlock(2, 1, SwitchToWakeup()).decision,
            BlockDecision::kPendingDontSleep);
}

// --- CPU offline with parked vCPUs ---

TEST_F(AmdWakeupTest, OfflineMovesParkedVcpusRetargetsAndWakesPending) {
  for (uint32_t v = 0; v < 4; ++v) Block(v, 2);
  // An interrupt whose wakeup vector is still in flight (CPU 2 has interrupts off): IRR is set.
  platform_.SetIrqsDisabled(2, true);
  PostDeviceInterrupt(3, 0x41);
  std::vector<std::pair<VcpuId, int>> retargeted;
  platform_.SetCurrentCpu(0);
  auto moved = queues_->OfflineCpu(2, [&](VcpuId v, int cpu, uint8_t vector) {
    retargeted.emplace_back(v, cpu);
    Retarget()(v, cpu, vector);
  });
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, 4u);
  EXPECT_EQ(retargeted.size(), 4u);
  for (auto [v, cpu] : retargeted) {
    EXPECT_EQ(cpu, 3) << "next online CPU";
    EXPECT_EQ(queues_->ParkedCpu(v), 3);
    EXPECT_EQ(routes_[v].dest_cpu, 3);
  }
  EXPECT_EQ(platform_.wake_count(3), 1u) << "pending before the move: woken by OfflineCpu";
  // Now CPU 2 stops taking interrupts; the in-flight vector is handled on the way down and finds
  // nothing (its queue is empty), which is fine: the wake already happened.
  platform_.SetIrqsDisabled(2, false);
  platform_.SetOnline(2, false);
  EXPECT_EQ(queues_->QueueLength(2, kWakeupVector), 0u);
  // Later interrupts go to the new CPU and wake through its handler.
  PostDeviceInterrupt(1, 0x42);
  EXPECT_EQ(platform_.wake_count(1), 1u);
  EXPECT_EQ(platform_.lost_interrupts(), 0u);
  EXPECT_EQ(queues_->Park(9, 2), ParkError::kCpuOffline);
  EXPECT_TRUE(queues_->CheckInvariants().ok());
  EXPECT_THAT(platform_.violations(), IsEmpty());
  // Back online: parking there works again.
  platform_.SetOnline(2, true);
  ASSERT_TRUE(queues_->OnlineCpu(2).ok());
  EXPECT_EQ(queues_->Park(9, 2), ParkError::kNone);
}

TEST_F(AmdWakeupTest, LastOnlineCpuCannotGoOffline) {
  Block(0, 0);
  ASSERT_TRUE(queues_->OfflineCpu(1, Retarget()).ok());
  ASSERT_TRUE(queues_->OfflineCpu(2, Retarget()).ok());
  ASSERT_TRUE(queues_->OfflineCpu(3, Retarget()).ok());
  auto last = queues_->OfflineCpu(0, Retarget());
  EXPECT_EQ(last.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(queues_->ParkedCpu(0), 0) << "nothing changed";
  EXPECT_EQ(queues_->OfflineCpu(1, Retarget()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(queues_->CheckInvariants().ok());
}

// --- destroy while parked ---

TEST_F(AmdWakeupTest, RemovingAParkedVcpuTakesItOffItsQueue) {
  Block(10, 1);
  Block(11, 1);
  ASSERT_TRUE(queues_->RemoveVcpu(10).ok());
  EXPECT_EQ(queues_->QueueLength(1, kWakeupVector), 1u);
  EXPECT_EQ(queues_->ParkedCpu(10), -1);
  EXPECT_TRUE(queues_->CheckInvariants().ok());
  pages_.page(10).Set(ApicVectorReg::kIrr, 0x41);  // late write to the dead vCPU's page
  platform_.RaiseInterrupt(1, kWakeupVector);
  EXPECT_EQ(platform_.wake_count(10), 0u);
  EXPECT_EQ(queues_->WakeupVector(10), 0) << "unknown vCPU has no wakeup vector";
}

// --- sharded wakeup vectors ---

TEST(ShardedWakeupVectors, HandlerForVectorTouchesOnlyItsBucket) {
  LogicalPlatform platform(2);
  testing::VapicPages pages(8);
  auto q = AmdQueues::Create(
      platform, {.num_cpus = 2, .vectors_per_cpu = 4, .first_vector = 0xe0, .max_vcpus = 8});
  ASSERT_TRUE(q.ok());
  std::vector<std::vector<VcpuId>> by_vector(4);
  for (uint32_t v = 0; v < 8; ++v) {
    ASSERT_TRUE((*q)->AddVcpu(v, pages.state(v)).ok());
    const uint8_t vector = (*q)->WakeupVector(v);
    ASSERT_GE(vector, 0xe0);
    ASSERT_LE(vector, 0xe3);
    by_vector[vector - 0xe0].push_back(v);
    ASSERT_EQ((*q)->Park(v, 0), ParkError::kNone);
    pages.page(v).Set(ApicVectorReg::kIrr, 0x41);  // every vCPU has something pending
  }
  for (const auto& b : by_vector) EXPECT_EQ(b.size(), 2u) << "buckets are balanced";
  platform.SetIrqsDisabled(0, true);
  const HandlerStats s = (*q)->HandleWakeupVector(0, 0xe1);
  platform.SetIrqsDisabled(0, false);
  EXPECT_EQ(s.scanned, 2u);
  EXPECT_EQ(s.woken, 2u);
  for (uint32_t v = 0; v < 8; ++v) {
    const bool in_bucket = (*q)->WakeupVector(v) == 0xe1;
    EXPECT_EQ(platform.wake_count(v), in_bucket ? 1u : 0u) << "vCPU " << v;
  }
  // A vCPU's bucket is fixed: unpark and park elsewhere keeps its vector.
  const uint8_t before = (*q)->WakeupVector(5);
  (*q)->Unpark(5);
  ASSERT_EQ((*q)->Park(5, 1), ParkError::kNone);
  EXPECT_EQ((*q)->WakeupVector(5), before);
  EXPECT_EQ((*q)->QueueLength(1, before), 1u);
  EXPECT_TRUE((*q)->CheckInvariants().ok());
}

TEST(ShardedWakeupVectors, CapacityIsPerBucket) {
  LogicalPlatform platform(1);
  testing::VapicPages pages(5);
  auto q = AmdQueues::Create(
      platform, {.num_cpus = 1, .vectors_per_cpu = 2, .first_vector = 0xe0, .max_vcpus = 4});
  ASSERT_TRUE(q.ok());
  for (uint32_t v = 0; v < 4; ++v) ASSERT_TRUE((*q)->AddVcpu(v, pages.state(v)).ok());
  for (uint32_t v = 0; v < 4; ++v) ASSERT_EQ((*q)->Park(v, 0), ParkError::kNone);
  EXPECT_EQ((*q)->QueueLength(0, 0xe0) + (*q)->QueueLength(0, 0xe1), 4u);
  EXPECT_TRUE((*q)->CheckInvariants().ok());
}

}  // namespace
}  // namespace irqvirt::wakeup
