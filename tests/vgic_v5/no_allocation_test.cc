// SPDX-License-Identifier: MIT
// Injection (GIC VDPEND), the fold (PPIs, VDRCFG queries, pops) and notifier dispatch allocate
// nothing, even with every SPI of a 64-SPI VM deactivated in one exit: every operator new in
// this binary is counted while the measured region runs (the fake IRS and the guest's
// operations are allocation-free after construction too).
#include <gtest/gtest.h>

#include "tests/common/allocation_counter.h"
#include "tests/vgic_v5/vgic_v5_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using irqvirt::testing::CountAllocations;

TEST(VgicV5NoAllocation, CounterSeesAllocations) {
  EXPECT_TRUE(irqvirt::testing::CounterSeesAllocations());
}

struct Resampler {
  TestVgicV5* vgic = nullptr;
  int notified = 0;
  bool device_has_work = true;
  // The resample pattern: the device still has work, so the notifier raises the line again.
  static void Notify(void* self, uint32_t id) {
    auto* r = static_cast<Resampler*>(self);
    ++r->notified;
    if (r->device_has_work && id % 4 == 1) (void)r->vgic->Inject(id, true);
  }
};

TEST(VgicV5NoAllocation, InjectFoldAndNotifierDispatch) {
  VgicV5Harness h({.num_vcpus = 2, .num_spis = 64});
  Resampler r{&h.vgic()};
  for (uint32_t id = 0; id < 64; ++id) {
    h.GuestSetUp(id, id % 2 ? Trigger::kLevel : Trigger::kEdge, static_cast<uint8_t>(id % 32),
                 static_cast<uint16_t>(id % 2));
    if (id % 8 != 7) {  // most watched, some quiet
      ASSERT_TRUE(h.vgic().SetDeactivationNotifier(id, &Resampler::Notify, &r).ok());
    }
  }
  ASSERT_TRUE(h.vgic().ConfigurePpi(0, 23, Trigger::kLevel).ok());
  const size_t n = CountAllocations([&] {
    for (int round = 0; round < 3; ++round) {
      r.device_has_work = true;
      for (uint32_t id = 0; id < 64; ++id) h.Inject(id, true);
      EXPECT_TRUE(h.vgic().InjectPpi(0, 23, true).ok());
      EXPECT_TRUE(h.vgic().InjectPpi(1, 14, true).ok());
      for (uint32_t v = 0; v < 2; ++v) EXPECT_TRUE(h.vgic().FlushPpis(v, h.ppis(v)).ok());
      h.Exit(0);
      for (uint16_t vpe = 0; vpe < 2; ++vpe) {
        while (auto id = h.Acknowledge(vpe)) {
          EXPECT_TRUE(h.irs().PriorityDrop(h.vm(), vpe));
          if (*id % 2) h.Inject(*id, false);
        }
      }
      for (uint32_t id = 0; id < 64; ++id) h.Deactivate(id);
      h.Exit(1);  // 56 watched SPIs popped and notified in this one exit
      for (int i = 0; i < 64; ++i) h.Exit(i % 2);  // quiet probes and resampled ones
      r.device_has_work = false;
      for (uint32_t id = 1; id < 64; id += 4) h.Inject(id, false);
      for (uint16_t vpe = 0; vpe < 2; ++vpe) {
        while (auto id = h.Acknowledge(vpe)) EXPECT_TRUE(h.irs().PriorityDrop(h.vm(), vpe));
      }
      for (uint32_t id = 0; id < 64; ++id) h.Deactivate(id);
      for (int i = 0; i < 64; ++i) h.Exit(i % 2);
    }
  });
  EXPECT_EQ(n, 0u);
  EXPECT_GE(r.notified, 3 * 56);
  EXPECT_EQ(h.vgic().in_flight(), 0u);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
