// SPDX-License-Identifier: MIT
// Flush, fold, inject, the DIR trap and notifier dispatch allocate nothing: every operator new
// in this binary is counted while the measured region runs (the guest model and the fake
// hardware are allocation-free too), on the GICv3 and on the GICv2 backend.
#include <gtest/gtest.h>

#include "tests/common/allocation_counter.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using irqvirt::testing::CountAllocations;

TEST(VgicNoAllocation, CounterSeesAllocations) {
  EXPECT_TRUE(irqvirt::testing::CounterSeesAllocations());
}

class VgicNoAllocationOnBackend : public ::testing::TestWithParam<Backend> {
 private:
  ScopedDefaultBackend backend_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Backends, VgicNoAllocationOnBackend,
                         ::testing::Values(Backend::kGicV3, Backend::kGicV2, Backend::kGicV3NoTdir,
                                           Backend::kGicV3TrapAll),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

TEST_P(VgicNoAllocationOnBackend, FlushFoldInjectDirTrapAndNotifiers) {
  VgicHarness h({.num_vcpus = 2, .num_spis = 64, .num_list_registers = 4,
                 .eoi_mode_split = false});
  int notified = 0;
  for (uint32_t i = 0; i < 40; ++i) {
    const bool level = i % 4 == 0;
    h.Configure(0, 32 + i,
                {.enabled = true, .priority = static_cast<uint8_t>(0xf0 - 4 * i), .group = 1,
                 .trigger = level ? Trigger::kLevel : Trigger::kEdge});
    if (level) {
      ASSERT_TRUE(h.vgic()
                      .SetDeactivationNotifier(
                          32 + i, [](void* c, uint32_t) { ++*static_cast<int*>(c); }, &notified)
                      .ok());
    }
  }
  h.Enter(0);
  h.Enter(1);
  int sgi_acks = 0;
  const size_t n = CountAllocations([&] {
    for (int round = 0; round < 3; ++round) {
      // EOImode 0 with 40 nested actives on 4 LRs: flushes, folds, EOIcount walks, notifiers.
      for (uint32_t i = 0; i < 40; ++i) {
        h.Inject(0, 32 + i, true);
        h.guest(0).Acknowledge(1);
      }
      for (uint32_t i = 0; i < 40; i += 4) h.Inject(0, 32 + i, false);
      h.vcpu(0).defer_exits = true;
      for (int i = 0; i < 40; ++i) h.guest(0).EoiNewest();
      h.vcpu(0).defer_exits = false;
      h.ServiceExits(0);
      // EOImode 1 on vCPU 1 for SPIs routed there: trapped DIRs.
      h.cpu(1).SetEoiMode(true);
      for (uint32_t i = 0; i < 8; ++i) {
        EXPECT_TRUE(h.vgic().RouteSpi(32 + i, 1).ok());
        h.Inject(1, 32 + i, true);
        h.guest(1).Acknowledge(1);
      }
      for (uint32_t i = 0; i < 8; i += 4) h.Inject(1, 32 + i, false);
      for (int i = 0; i < 8; ++i) h.guest(1).EoiNewest();
      while (h.guest(1).num_waiting_for_dir() > 0) h.guest(1).DeactivateWaiting(0);
      h.cpu(1).SetEoiMode(false);
      h.Exit(1);
      h.Enter(1);
      for (uint32_t i = 0; i < 8; ++i) EXPECT_TRUE(h.vgic().RouteSpi(32 + i, 0).ok());
      if (h.backend() == Backend::kGicV2) {
        // A GICv2 SGI from two senders: one LR each, the second after the EOI maintenance
        // interrupt.
        for (uint32_t source : {0u, 1u}) EXPECT_TRUE(h.vgic().InjectSgi(0, 2, source).ok());
        h.DeliverKicks();
        for (int k = 0; k < 2; ++k) {
          sgi_acks += h.guest(0).Acknowledge(1) != hw::fake::kSpuriousIntid ? 1 : 0;
          h.guest(0).EoiNewest();
        }
      }
    }
  });
  EXPECT_EQ(n, 0u);
  EXPECT_GT(h.vgic().stats(0).eoicount_deactivations, 0u) << "the EOIcount walk really ran";
  EXPECT_GT(h.vgic().stats(1).dir_traps, 0u) << "the DIR trap really ran";
  EXPECT_GT(notified, 0) << "notifiers really ran";
  if (h.backend() == Backend::kGicV2) {
    EXPECT_EQ(sgi_acks, 6) << "both senders, every round";
  }
  h.Exit(0);
  h.Exit(1);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
