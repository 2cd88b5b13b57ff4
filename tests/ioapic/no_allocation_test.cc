// SPDX-License-Identifier: MIT
// The EOI path allocates nothing: every operator new in this binary is counted while a guest
// EOIs level interrupts (with an ack notifier, a stale-EOI rescan, the storm guard deferring a
// re-delivery, the EOI register) and while a split embedder's exit handler processes EOIs.
#include <gtest/gtest.h>

#include "tests/common/allocation_counter.h"
#include "tests/ioapic/ioapic_harness.h"

namespace irqvirt::testing {
namespace {

TEST(IoapicNoAllocation, CounterSeesAllocations) { EXPECT_TRUE(CounterSeesAllocations()); }

TEST(IoapicNoAllocation, InKernelEoiPath) {
  IoapicHarness h(4, {.storm_threshold = 2});
  int acks = 0;
  ASSERT_TRUE(h.ioapic->AddAckNotifier(3, [&](int) { ++acks; }).ok());
  h.SetRte(3, {.vector = 0x60, .level = true, .dest = 0});
  h.SetRte(4, {.vector = 0x61, .level = true, .dest = 0});
  // A level interrupt in service on vCPU 0 is re-routed to vCPU 1: its EOI is stale.
  h.Line(3, true);
  ASSERT_EQ(h.lapics.Acknowledge(0), 0x60);
  h.Line(3, false);
  h.Write(0x11 + 2 * 3,
          static_cast<uint32_t>(MakeRte({.vector = 0x60, .level = true, .dest = 1}).raw() >> 32));
  ASSERT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), 0x60);
  const size_t n = CountAllocations([&] {
    h.lapics.Eoi(0);  // intercepted, notifier, Remote IRR clear, rescan of vCPU 0
    for (int round = 0; round < 3; ++round) {
      h.Line(3, true);
      h.lapics.Acknowledge(1);
      h.Line(3, false);
      h.lapics.Eoi(1);
      h.Line(4, true);  // held high: re-delivered, then deferred by the storm guard
      for (int i = 0; i < 2; ++i) {
        h.lapics.Acknowledge(0);
        h.lapics.Eoi(0);
      }
      h.Line(4, false);
      if (h.timer.Fire()) h.ioapic->OnStormTimer();
      h.lapics.Acknowledge(0);
      h.lapics.Eoi(0);
    }
    h.Line(3, true);
    h.ioapic->MmioWrite(hw::x86::kIoapicEoi, 4, 0x60);  // the version 0x20 EOI register
  });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(h.ioapic->HighestStalePendingEoi(0).value(), -1) << "the stale rescan ran";
  EXPECT_EQ(acks, 5);
  EXPECT_EQ(h.ioapic->Stats(4).value().deferred_by_storm_guard, 3u);
}

TEST(IoapicNoAllocation, SplitExitHandlerPath) {
  IoapicHarness h;
  h.ioapic->SetEoiExitHandler([&](int, uint8_t vector, bool level) {
    h.ioapic->ProcessEoi(vector, level);  // a userspace I/O APIC answering at once
  });
  h.SetRte(9, {.vector = 0x68, .level = true, .dest = 3});
  const size_t n = CountAllocations([&] {
    for (int round = 0; round < 3; ++round) {
      h.Line(9, true);
      h.lapics.Acknowledge(3);
      h.Line(9, false);
      h.lapics.Eoi(3);
    }
  });
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(h.lapics.deliveries(3, 0x68), 3u);
}

}  // namespace
}  // namespace irqvirt::testing
