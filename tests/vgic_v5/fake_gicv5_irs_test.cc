// SPDX-License-Identifier: MIT
// The fake GICv5 IRS, driven through the shipped backend (Gicv5VirtualSpisBackend) the way the
// vGIC core drives the hardware, and through the guest's CPU-interface operations.
#include "hw/fake/fake_gicv5_irs.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>

#include "gtest/gtest.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "tests/common/allocation_counter.h"

namespace hw::fake {
namespace {

using arm::IccIcsr;
using Backend = arm::Gicv5VirtualSpisBackend<FakeGicv5Irs>;

constexpr uint64_t kSpiType = static_cast<uint64_t>(arm::Gicv5IntidType::kSpi);

class FakeGicv5IrsTest : public ::testing::Test {
 protected:
  FakeGicv5IrsTest() : irs_(2, 64), spis_(irs_) {}

  IccIcsr Query(uint16_t vm, uint32_t id) { return IccIcsr::FromRaw(spis_.QuerySpi(vm, id)); }

  // An enabled SPI targeting `vpe`.
  void Configure(uint16_t vm, uint32_t id, uint8_t priority, bool level, uint16_t vpe = 0) {
    irs_.GuestSetEnabled(vm, id, true);
    irs_.GuestSetPriority(vm, id, priority);
    irs_.GuestSetHandlingMode(vm, id, level);
    irs_.GuestSetTarget(vm, id, vpe);
  }

  FakeGicv5Irs irs_;
  Backend spis_;
};

TEST_F(FakeGicv5IrsTest, ResetStateQueriesAsAllZero) {
  EXPECT_EQ(spis_.QuerySpi(0, 0), 0u);
  EXPECT_EQ(spis_.QuerySpi(1, 63), 0u);
  EXPECT_EQ(irs_.vdrcfg_count(), 2u);
  EXPECT_EQ(irs_.invalid_operands(), 0u);
}

TEST_F(FakeGicv5IrsTest, VdpendSetAndClearAreVisibleInQuerySpi) {
  spis_.SetSpiPending(1, 7, true);
  EXPECT_EQ(Query(1, 7).pending(), 1u);
  EXPECT_EQ(Query(0, 7).pending(), 0u);  // the other VM's SPI 7 is untouched
  EXPECT_EQ(Query(1, 6).pending(), 0u);
  EXPECT_TRUE(irs_.State(1, 7).pending);
  spis_.SetSpiPending(1, 7, false);
  EXPECT_EQ(Query(1, 7).pending(), 0u);
  EXPECT_FALSE(irs_.State(1, 7).pending);
  EXPECT_EQ(irs_.vdpend_count(), 2u);
  EXPECT_EQ(irs_.vdrcfg_count(), 4u);
  EXPECT_EQ(irs_.invalid_operands(), 0u);
}

// The hardware completes a GIC instruction's effects only "in finite time" (R_XCLJC): a raw
// VDPEND is not visible to a query until the issuing PE's GSB SYS (or its next VDPEND), which
// is why the backend issues GSB SYS after every VDPEND.
TEST_F(FakeGicv5IrsTest, VdpendCompletesOnlyAtGsbSys) {
  const uint64_t set7 =
      arm::GicVdpendOperand().set_id(7).set_type(kSpiType).set_vm(1).set_pending(1).raw();
  irs_.Issue(arm::kGicVdpend, set7);
  EXPECT_EQ(Query(1, 7).pending(), 0u) << "not complete yet";
  EXPECT_FALSE(irs_.State(1, 7).pending);
  irs_.Issue(arm::kGsbSys, 0);
  EXPECT_EQ(Query(1, 7).pending(), 1u);

  const uint64_t set8 =
      arm::GicVdpendOperand().set_id(8).set_type(kSpiType).set_vm(1).set_pending(1).raw();
  const uint64_t set9 =
      arm::GicVdpendOperand().set_id(9).set_type(kSpiType).set_vm(1).set_pending(1).raw();
  irs_.Issue(arm::kGicVdpend, set8);
  irs_.Issue(arm::kGicVdpend, set9);  // pushes 8 out
  EXPECT_EQ(Query(1, 8).pending(), 1u);
  EXPECT_EQ(Query(1, 9).pending(), 0u);
  irs_.Issue(arm::kGsbSys, 0);
  EXPECT_EQ(Query(1, 9).pending(), 1u);
  EXPECT_EQ(irs_.invalid_operands(), 0u);
}

TEST_F(FakeGicv5IrsTest, IcsrReportsEveryFieldOfTheLiveState) {
  Configure(0, 12, /*priority=*/21, /*level=*/true, /*vpe=*/0x1234);
  spis_.SetSpiPending(0, 12, true);
  const IccIcsr icsr = Query(0, 12);
  EXPECT_EQ(icsr.f(), 0u);
  EXPECT_EQ(icsr.enabled(), 1u);
  EXPECT_EQ(icsr.pending(), 1u);
  EXPECT_EQ(icsr.irm(), 0u);
  EXPECT_EQ(icsr.active(), 0u);
  EXPECT_EQ(icsr.hm(), 1u);
  EXPECT_EQ(icsr.priority(), 21u);
  EXPECT_EQ(icsr.iaffid(), 0x1234u);
  EXPECT_FALSE(icsr.has_reserved_bits_set());

  // No caching: each query reads the state as it is at that moment.
  irs_.GuestSetEnabled(0, 12, false);
  irs_.GuestSetHandlingMode(0, 12, false);
  irs_.GuestSetPriority(0, 12, 3);
  irs_.GuestSetTarget(0, 12, 2);
  const IccIcsr after = Query(0, 12);
  EXPECT_EQ(after.enabled(), 0u);
  EXPECT_EQ(after.hm(), 0u);
  EXPECT_EQ(after.priority(), 3u);
  EXPECT_EQ(after.iaffid(), 2u);
  EXPECT_EQ(after.pending(), 1u);
}

TEST_F(FakeGicv5IrsTest, PriorityKeepsFiveBits) {
  irs_.GuestSetPriority(0, 1, 0xff);
  EXPECT_EQ(irs_.State(0, 1).priority, 31);
  EXPECT_EQ(Query(0, 1).priority(), 31u);
}

TEST_F(FakeGicv5IrsTest, EdgeAcknowledgeClearsPending) {
  Configure(0, 3, 8, /*level=*/false);
  spis_.SetSpiPending(0, 3, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(3));
  const IccIcsr icsr = Query(0, 3);
  EXPECT_EQ(icsr.active(), 1u);
  EXPECT_EQ(icsr.pending(), 0u);
  // A new edge while active: pending and active together; not acknowledged again while active.
  spis_.SetSpiPending(0, 3, true);
  EXPECT_EQ(Query(0, 3).pending(), 1u);
  EXPECT_TRUE(irs_.PriorityDrop(0, 0));
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  irs_.Deactivate(0, 3);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(3));
}

TEST_F(FakeGicv5IrsTest, LevelAcknowledgeKeepsPending) {
  Configure(0, 4, 8, /*level=*/true);
  spis_.SetSpiPending(0, 4, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(4));
  IccIcsr icsr = Query(0, 4);
  EXPECT_EQ(icsr.active(), 1u);
  EXPECT_EQ(icsr.pending(), 1u);
  // The line drops: the hypervisor clears pending with VDPEND.
  spis_.SetSpiPending(0, 4, false);
  icsr = Query(0, 4);
  EXPECT_EQ(icsr.active(), 1u);
  EXPECT_EQ(icsr.pending(), 0u);
}

TEST_F(FakeGicv5IrsTest, GuestCdpendClearsAndSetsPendingWhateverTheLine) {
  Configure(0, 5, 8, /*level=*/true);
  spis_.SetSpiPending(0, 5, true);
  irs_.GuestSetPending(0, 5, false);  // the guest discards it: the IRS knows no line
  EXPECT_EQ(Query(0, 5).pending(), 0u);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  irs_.GuestSetPending(0, 5, true);
  EXPECT_EQ(Query(0, 5).pending(), 1u);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(5));
  irs_.GuestSetPending(0, 99, true);  // no such SPI: ignored
  EXPECT_EQ(irs_.invalid_operands(), 0u);
}

TEST_F(FakeGicv5IrsTest, AcknowledgeOnlyPendingEnabledInactiveSpisOfThatVmAndVpe) {
  Configure(0, 1, 5, false, /*vpe=*/1);  // another vPE
  spis_.SetSpiPending(0, 1, true);
  Configure(0, 2, 5, false);
  irs_.GuestSetEnabled(0, 2, false);  // disabled
  spis_.SetSpiPending(0, 2, true);
  Configure(1, 3, 5, false);  // another VM
  spis_.SetSpiPending(1, 3, true);
  Configure(0, 4, 5, false);  // not pending
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  EXPECT_EQ(irs_.Acknowledge(0, 1), std::optional<uint32_t>(1));
  EXPECT_EQ(irs_.Acknowledge(1, 0), std::optional<uint32_t>(3));
  irs_.GuestSetEnabled(0, 2, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(2));
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  EXPECT_EQ(irs_.Acknowledge(2, 0), std::nullopt);  // no such VM
}

TEST_F(FakeGicv5IrsTest, AcknowledgeInPriorityOrderThenIdOrder) {
  Configure(0, 10, 9, false);
  Configure(0, 20, 2, false);
  Configure(0, 30, 9, false);
  Configure(0, 5, 17, false);
  for (uint32_t id : {10u, 20u, 30u, 5u}) spis_.SetSpiPending(0, id, true);
  // Each acknowledge is followed by priority drop and deactivate, so nothing preempts.
  for (uint32_t want : {20u, 10u, 30u, 5u}) {
    EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(want));
    EXPECT_TRUE(irs_.PriorityDrop(0, 0));
    irs_.Deactivate(0, want);
  }
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  EXPECT_FALSE(irs_.PriorityDrop(0, 0));
  EXPECT_EQ(irs_.ignored_deactivations(), 0u);
}

TEST_F(FakeGicv5IrsTest, RunningPriorityBlocksEqualAndLowerPriorities) {
  Configure(0, 1, 10, false);
  Configure(0, 2, 10, false);  // same priority
  Configure(0, 3, 12, false);  // lower priority
  Configure(0, 4, 4, false);   // higher priority
  Configure(0, 5, 10, false, /*vpe=*/1);
  spis_.SetSpiPending(0, 1, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(1));
  EXPECT_EQ(irs_.ActivePriorities(0, 0), 1u << 10);
  spis_.SetSpiPending(0, 2, true);
  spis_.SetSpiPending(0, 3, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);  // running priority 10
  // Another vPE has its own running priority.
  spis_.SetSpiPending(0, 5, true);
  EXPECT_EQ(irs_.Acknowledge(0, 1), std::optional<uint32_t>(5));
  // A higher priority preempts; then two priorities are active.
  spis_.SetSpiPending(0, 4, true);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(4));
  EXPECT_EQ(irs_.ActivePriorities(0, 0), (1u << 10) | (1u << 4));
  // Priority drop clears the highest (4): running priority is 10 again.
  EXPECT_TRUE(irs_.PriorityDrop(0, 0));
  EXPECT_EQ(irs_.ActivePriorities(0, 0), 1u << 10);
  irs_.Deactivate(0, 4);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::nullopt);
  // Dropping 10 makes the vPE idle: SPI 2 (priority 10, lower ID than 3's priority 12) next.
  EXPECT_TRUE(irs_.PriorityDrop(0, 0));
  EXPECT_EQ(irs_.ActivePriorities(0, 0), 0u);
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(2));
  // The lowest priority value is still taken first when nothing runs.
  EXPECT_TRUE(irs_.PriorityDrop(0, 0));
  EXPECT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(3));
}

TEST_F(FakeGicv5IrsTest, DeactivateClearsActiveAndCountsIgnoredOnes) {
  Configure(0, 9, 1, false);
  spis_.SetSpiPending(0, 9, true);
  ASSERT_EQ(irs_.Acknowledge(0, 0), std::optional<uint32_t>(9));
  EXPECT_EQ(Query(0, 9).active(), 1u);
  irs_.Deactivate(0, 9);
  EXPECT_EQ(Query(0, 9).active(), 0u);
  EXPECT_FALSE(irs_.State(0, 9).active);
  EXPECT_EQ(irs_.ignored_deactivations(), 0u);
  irs_.Deactivate(0, 9);   // no longer active
  irs_.Deactivate(0, 64);  // no such SPI
  irs_.Deactivate(5, 0);   // no such VM
  EXPECT_EQ(irs_.ignored_deactivations(), 3u);
  // The priority drop is separate from deactivation: the bit is still set.
  EXPECT_EQ(irs_.ActivePriorities(0, 0), 1u << 1);
}

TEST_F(FakeGicv5IrsTest, InvalidQueriesFaultAndInvalidVdpendIsIgnored) {
  const uint64_t fault = IccIcsr().set_f(1).raw();
  spis_.SetSpiPending(0, 0, true);
  EXPECT_EQ(spis_.QuerySpi(2, 0), fault);   // no such VM
  EXPECT_EQ(spis_.QuerySpi(0, 64), fault);  // no such SPI
  EXPECT_EQ(irs_.invalid_operands(), 2u);
  spis_.SetSpiPending(2, 0, true);
  spis_.SetSpiPending(0, 64, true);
  EXPECT_EQ(irs_.invalid_operands(), 4u);
  EXPECT_FALSE(irs_.State(1, 0).pending);

  // Raw operands the backend never builds: TYPE != SPI and non-zero reserved bits.
  arm::GicVdrcfgOperand ppi;
  ppi.set_id(0).set_type(static_cast<uint64_t>(arm::Gicv5IntidType::kPpi)).set_vm(0);
  irs_.Issue(arm::kGicVdrcfg, ppi.raw());
  EXPECT_EQ(irs_.Read(arm::kIccIcsrEl1), fault);
  arm::GicVdrcfgOperand good;
  good.set_id(0).set_type(kSpiType).set_vm(0);
  irs_.Issue(arm::kGicVdrcfg, good.raw());
  EXPECT_EQ(IccIcsr::FromRaw(irs_.Read(arm::kIccIcsrEl1)).pending(), 1u);
  irs_.Issue(arm::kGicVdrcfg, good.raw() | (uint64_t{1} << 24));
  EXPECT_EQ(irs_.Read(arm::kIccIcsrEl1), fault);
  irs_.Issue(arm::kGicVdrcfg, good.raw() | (uint64_t{1} << 63));
  EXPECT_EQ(irs_.Read(arm::kIccIcsrEl1), fault);
  EXPECT_EQ(irs_.invalid_operands(), 7u);

  arm::GicVdpendOperand clear;
  clear.set_id(0).set_type(kSpiType).set_vm(0).set_pending(0);
  irs_.Issue(arm::kGicVdpend, clear.raw() | (uint64_t{1} << 48));   // reserved
  irs_.Issue(arm::kGicVdpend, clear.raw() & ~(uint64_t{7} << 29));  // TYPE 0
  EXPECT_TRUE(irs_.State(0, 0).pending);
  EXPECT_EQ(irs_.invalid_operands(), 9u);
  irs_.Issue(arm::kGicVdpend, clear.raw());
  irs_.Issue(arm::kGsbSys, 0);
  EXPECT_FALSE(irs_.State(0, 0).pending);

  // Unknown encodings, both ways.
  irs_.Issue(arm::kIccIcsrEl1, 0);
  EXPECT_EQ(irs_.Read(arm::kGicVdrcfg), 0u);
  EXPECT_EQ(irs_.invalid_operands(), 11u);
  EXPECT_EQ(irs_.vdrcfg_count(), 6u);
  EXPECT_EQ(irs_.vdpend_count(), 6u);

  irs_.ResetCounters();
  EXPECT_EQ(irs_.invalid_operands(), 0u);
  EXPECT_EQ(irs_.vdrcfg_count(), 0u);
  EXPECT_EQ(irs_.vdpend_count(), 0u);
  EXPECT_EQ(irs_.ignored_deactivations(), 0u);
}

TEST(FakeGicv5Irs, IcsrBelongsToTheFakeThatWroteIt) {
  FakeGicv5Irs a(1, 4);
  FakeGicv5Irs b(1, 4);
  const uint64_t fault = IccIcsr().set_f(1).raw();
  EXPECT_EQ(a.Read(arm::kIccIcsrEl1), fault);  // nothing queried yet
  a.GuestSetEnabled(0, 1, true);
  Backend spis(a);
  EXPECT_EQ(IccIcsr::FromRaw(spis.QuerySpi(0, 1)).enabled(), 1u);
  EXPECT_EQ(b.Read(arm::kIccIcsrEl1), fault);
  EXPECT_EQ(b.invalid_operands(), 0u);
}

TEST_F(FakeGicv5IrsTest, EachThreadSeesItsOwnIcsr) {
  Configure(0, 1, 3, /*level=*/false, /*vpe=*/7);
  Configure(1, 2, 29, /*level=*/true, /*vpe=*/0xbeef);
  spis_.SetSpiPending(1, 2, true);
  irs_.GuestSetEnabled(1, 2, false);
  const uint64_t want1 = spis_.QuerySpi(0, 1);
  const uint64_t want2 = spis_.QuerySpi(1, 2);
  ASSERT_NE(want1, want2);

  constexpr int kIterations = 100000;
  std::atomic<int> mismatches{0};
  std::atomic<int> ready{0};
  auto run = [&](uint16_t vm, uint32_t id, uint64_t want) {
    Backend spis(irs_);  // same fake, so both threads issue to the same IRS
    ready.fetch_add(1);
    while (ready.load() < 3) {
    }
    arm::GicVdrcfgOperand op;
    op.set_id(id).set_type(kSpiType).set_vm(vm);
    for (int i = 0; i < kIterations; ++i) {
      if (spis.QuerySpi(vm, id) != want) mismatches.fetch_add(1, std::memory_order_relaxed);
      if (i % 16 == 0) {  // widen the window between the query and the read
        irs_.Issue(arm::kGicVdrcfg, op.raw());
        std::this_thread::yield();
        if (irs_.Read(arm::kIccIcsrEl1) != want) mismatches.fetch_add(1, std::memory_order_relaxed);
      }
    }
  };
  std::thread t1(run, 0, 1, want1);
  std::thread t2(run, 1, 2, want2);
  // A device thread keeps another SPI's pending state moving meanwhile.
  std::thread device([&] {
    ready.fetch_add(1);
    while (ready.load() < 3) {
    }
    for (int i = 0; i < kIterations; ++i) spis_.SetSpiPending(0, 3, i % 2 == 0);
  });
  t1.join();
  t2.join();
  device.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(irs_.invalid_operands(), 0u);
  EXPECT_EQ(irs_.vdrcfg_count(), 2u + 2u * (kIterations + kIterations / 16));
  // The main thread's own ICSR is still its last query's.
  EXPECT_EQ(irs_.Read(arm::kIccIcsrEl1), want2);
}

// Device threads raise and lower SPIs with VDPEND while the guest acknowledges, drops and
// deactivates them on two vPEs and the hypervisor folds with VDRCFG: every state it reads is one
// the model allows, and everything raised is eventually handled. Run under --config=tsan too.
TEST_F(FakeGicv5IrsTest, ConcurrentDevicesGuestAndHypervisor) {
  constexpr uint32_t kSpis = 16;
  for (uint32_t id = 0; id < kSpis; ++id) {
    Configure(0, id, static_cast<uint8_t>(id % 4), /*level=*/false, static_cast<uint16_t>(id % 2));
  }
  constexpr int kRounds = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> acknowledged{0};
  std::thread device([&] {
    for (int i = 0; i < kRounds; ++i) {
      spis_.SetSpiPending(0, static_cast<uint32_t>(i) % kSpis, true);
    }
  });
  auto vpe = [&](uint16_t n) {
    while (!done.load()) {
      const std::optional<uint32_t> id = irs_.Acknowledge(0, n);
      if (!id.has_value()) continue;
      EXPECT_EQ(*id % 2, n);
      acknowledged.fetch_add(1, std::memory_order_relaxed);
      EXPECT_TRUE(irs_.PriorityDrop(0, n));
      irs_.Deactivate(0, *id);
    }
  };
  std::thread vpe0(vpe, 0);
  std::thread vpe1(vpe, 1);
  std::thread hypervisor([&] {
    Backend spis(irs_);
    while (!done.load()) {
      for (uint32_t id = 0; id < kSpis; ++id) {
        const IccIcsr icsr = IccIcsr::FromRaw(spis.QuerySpi(0, id));
        EXPECT_EQ(icsr.f(), 0u);
        EXPECT_EQ(icsr.enabled(), 1u);
        EXPECT_EQ(icsr.priority(), id % 4);
        EXPECT_EQ(icsr.iaffid(), id % 2);
      }
    }
  });
  device.join();
  // Drain: everything the device raised is acknowledged and deactivated.
  for (int spin = 0; spin < 1000000; ++spin) {
    bool busy = false;
    for (uint32_t id = 0; id < kSpis; ++id) {
      const auto s = irs_.State(0, id);
      busy = busy || s.pending || s.active;
    }
    if (!busy) break;
    std::this_thread::yield();
  }
  done.store(true);
  vpe0.join();
  vpe1.join();
  hypervisor.join();
  EXPECT_GT(acknowledged.load(), 0);
  for (uint32_t id = 0; id < kSpis; ++id) {
    const auto s = irs_.State(0, id);
    EXPECT_FALSE(s.pending) << id;
    EXPECT_FALSE(s.active) << id;
  }
  EXPECT_EQ(irs_.ActivePriorities(0, 0), 0u);
  EXPECT_EQ(irs_.ActivePriorities(0, 1), 0u);
  EXPECT_EQ(irs_.ignored_deactivations(), 0u);
  EXPECT_EQ(irs_.invalid_operands(), 0u);
}

TEST(FakeGicv5IrsNoAllocation, CounterSeesAllocations) {
  EXPECT_TRUE(irqvirt::testing::CounterSeesAllocations());
}

// The instructions allocate nothing after construction (the backend is called with interrupts
// off), nor do the guest's operations.
TEST_F(FakeGicv5IrsTest, NothingAllocatesAfterConstruction) {
  const size_t n = irqvirt::testing::CountAllocations([&] {
    for (uint32_t id = 0; id < 70; ++id) {  // includes invalid IDs
      Configure(1, id, static_cast<uint8_t>(id), id % 2 == 0, 3);
      spis_.SetSpiPending(1, id, true);
      (void)spis_.QuerySpi(1, id);
      (void)spis_.QuerySpi(3, id);
      (void)irs_.Acknowledge(1, 3);
      (void)irs_.PriorityDrop(1, 3);
      irs_.Deactivate(1, id);
      (void)irs_.State(1, id);
    }
  });
  EXPECT_EQ(n, 0u);
}

TEST_F(FakeGicv5IrsTest, FirstQueryOnANewThreadAllocatesNothing) {
  size_t n = 1;
  std::thread t(
      [&] { n = irqvirt::testing::CountAllocations([&] { (void)spis_.QuerySpi(0, 0); }); });
  t.join();
  EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace hw::fake
