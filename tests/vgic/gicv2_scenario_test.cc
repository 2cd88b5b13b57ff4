// SPDX-License-Identifier: MIT
// Stories only a GICv2 guest on the GICv2 backend lives through: an SGI sent by several vCPUs is
// delivered once per sender, one sender per LR, with the sender in GICV_IAR[12:10]; a GICV_DIR
// naming another sender than the active one deactivates nothing; and the GICH registers the
// backend writes hold what the core computed (hand-computed values).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "hw/arm/gicv2_regs.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using hw::fake::kSpuriousIntid;

// What GICV_IAR returns for SGI `sgi` sent by CPU `source` (IHI 0048B §4.4.4).
constexpr uint32_t Iar(uint32_t sgi, uint32_t source) { return sgi | (source << 10); }

IrqConfig Edge(uint8_t priority) {
  return {.enabled = true, .priority = priority, .group = 1, .trigger = Trigger::kEdge};
}
IrqConfig Level(uint8_t priority) {
  return {.enabled = true, .priority = priority, .group = 1, .trigger = Trigger::kLevel};
}

void ExpectSgisIdle(VgicHarness& h, uint32_t vcpu) {
  for (uint32_t sgi = 0; sgi < kNumSgis; ++sgi) {
    const auto s = h.vgic().Snapshot(vcpu, sgi);
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s->active) << "SGI " << sgi;
    EXPECT_FALSE(s->pending_latch) << "SGI " << sgi;
  }
  EXPECT_EQ(h.vgic().ApListLength(vcpu), 0u);
  EXPECT_EQ(h.total_livelocks(), 0u);
  EXPECT_TRUE(h.platform().violations().empty());
}

class Gicv2MultiSourceSgi : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(EoiModes, Gicv2MultiSourceSgi, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("EoiMode1") : std::string("EoiMode0");
                         });

TEST_P(Gicv2MultiSourceSgi, ThreeSendersToOneVcpuWithTwoLrsEachAcknowledgedOnce) {
  const bool split = GetParam();
  VgicHarness h({.num_vcpus = 4,
                 .num_list_registers = 2,
                 .eoi_mode_split = split,
                 .backend = Backend::kGicV2});
  h.Configure(0, 5, Edge(0xa0));
  h.Configure(0, 6, Edge(0xa0));
  for (uint32_t source : {1u, 2u, 3u}) ASSERT_TRUE(h.vgic().InjectSgi(0, 5, source).ok());
  ASSERT_TRUE(h.vgic().InjectSgi(0, 6, 2).ok());  // the second LR's occupant
  h.Enter(0);

  // One LR per SGI, one sender per LR: the lowest sender first, with EOI while others wait.
  // LR0: Grp1 (bit 30) | Pending (bit 28) | 0xa0 >> 3 = 0x14 << 23 (0x0a000000) | EOI (bit 19)
  //      | CPUID 1 << 10 | SGI 5 = 0x5a080405.
  // LR1: the same for SGI 6 from CPU 2, without EOI (no other sender): 0x5a000806.
  hw::fake::FakeGicV2CpuInterface& gich = *h.gicv2(0);
  EXPECT_EQ(gich.lr(0), 0x5a080405u);
  EXPECT_EQ(gich.lr(1), 0x5a000806u);

  std::vector<uint32_t> taken;
  for (int guard = 0; guard < 16; ++guard) {
    const uint32_t iar = h.guest(0).Acknowledge(1);
    if (iar == kSpuriousIntid) break;
    taken.push_back(iar);
    h.guest(0).EoiNewest();
    if (split) h.guest(0).DeactivateWaiting(0);
  }
  h.Exit(0);
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<uint32_t>{Iar(5, 1), Iar(5, 2), Iar(6, 2), Iar(5, 3)}))
      << "every sender once, named in IAR[12:10] (sorted by IAR value)";
  if (!split) {
    EXPECT_GE(h.vcpu(0).maintenance_exits, 2u)
        << "each following sender comes after the EOI maintenance interrupt";
  } else {
    EXPECT_EQ(h.vgic().stats(0).dir_deactivations, 4u) << "each DIR names the active sender";
  }
  EXPECT_EQ(gich.bad_accesses(), 0u);
  ExpectSgisIdle(h, 0);
}

TEST(Gicv2Scenario, SameSenderAgainWhileActiveIsDeliveredAfterDeactivation) {
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV2});
  h.Configure(0, 1, Edge(0x80));
  ASSERT_TRUE(h.vgic().InjectSgi(0, 1, 1).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), Iar(1, 1));
  ASSERT_TRUE(h.vgic().InjectSgi(0, 1, 1).ok());  // sent again while the guest handles it
  h.DeliverKicks();
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpuriousIntid) << "an active SGI is not Pending too";
  h.guest(0).EoiNewest();
  EXPECT_EQ(h.guest(0).Acknowledge(1), Iar(1, 1)) << "the second one, after the EOI MI";
  h.guest(0).EoiNewest();
  h.Exit(0);
  ExpectSgisIdle(h, 0);
}

TEST(Gicv2Scenario, DirNamingAnotherSenderThanTheActiveOneIsIgnored) {
  VgicHarness h({.num_vcpus = 3, .eoi_mode_split = true, .backend = Backend::kGicV2});
  h.Configure(0, 3, Edge(0x80));
  ASSERT_TRUE(h.vgic().InjectSgi(0, 3, 1).ok());
  ASSERT_TRUE(h.vgic().InjectSgi(0, 3, 2).ok());
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), Iar(3, 1));
  h.guest(0).EoiNewest();     // priority drop; sender 1's SGI waits for its DIR
  h.guest(0).Dir(Iar(3, 2));  // names sender 2, whose SGI is pending, not active
  EXPECT_EQ(h.vcpu(0).dir_trap_exits, 1u) << "GICV_DIR traps";
  EXPECT_EQ(h.gicv2(0)->dir_traps(), 1u);
  EXPECT_EQ(h.vgic().stats(0).dir_deactivations, 0u);
  EXPECT_TRUE(h.vgic().Snapshot(0, 3)->active) << "sender 1's activation stays";
  EXPECT_EQ(h.guest(0).Acknowledge(1), kSpuriousIntid) << "sender 2 waits behind it";
  h.guest(0).DeactivateWaiting(0);  // GICV_DIR with sender 1
  EXPECT_EQ(h.vgic().stats(0).dir_deactivations, 1u);
  EXPECT_EQ(h.guest(0).Acknowledge(1), Iar(3, 2));
  h.guest(0).EoiNewest();
  h.guest(0).DeactivateWaiting(0);
  h.Exit(0);
  EXPECT_EQ(h.vgic().stats(0).dir_deactivations, 2u);
  ExpectSgisIdle(h, 0);
}

TEST(Gicv2Scenario, SgiSendersAreCheckedAndGicV3GuestsHaveNone) {
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV2});
  EXPECT_EQ(h.vgic().InjectSgi(0, 16, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().InjectSgi(2, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.vgic().InjectSgi(0, 1, 2).code(), absl::StatusCode::kInvalidArgument);
  auto nine = TestVgic::Create(h.platform(), {.num_vcpus = 9, .guest_model = GuestModel::kGicV2});
  EXPECT_EQ(nine.status().code(), absl::StatusCode::kInvalidArgument) << "GICv2 has 8 CPUs";
  VgicHarness v3({.num_vcpus = 2, .backend = Backend::kGicV3});
  EXPECT_EQ(v3.vgic().InjectSgi(0, 1, 1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Gicv2Scenario, BackendMovesEveryRegisterTheCoreComputes) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 4, .backend = Backend::kGicV2});
  h.Configure(0, 40, Level(0x80));
  ASSERT_TRUE(h.vgic().Inject(0, 40, true).ok());
  h.Enter(0);
  hw::fake::FakeGicV2CpuInterface& gich = *h.gicv2(0);
  // GICH_LR0: Grp1 (bit 30) | Pending (bit 28) | 0x80 >> 3 = 0x10 << 23 (0x08000000)
  // | EOI (bit 19) | VirtualID 40 (0x28).
  EXPECT_EQ(gich.Read32(hw::arm::GichLrOffset(0)), 0x58080028u);
  // GICH_HCR: En | VGrp0DIE (bit 5) | VGrp1DIE (bit 7); the core's vSGIEOICount and TDIR have
  // no GICv2 bit.
  EXPECT_EQ(gich.Read32(hw::arm::kGichHcr), 0xa1u);
  // GICH_VMCR: VMGrp0En | VMGrp1En | VMPriMask 0x1f << 27 (the harness's PMR 0xf8).
  EXPECT_EQ(gich.Read32(hw::arm::kGichVmcr), 0xf8000003u);
  EXPECT_EQ(gich.bad_accesses(), 0u);
  h.Exit(0);
  EXPECT_EQ(gich.Read32(hw::arm::GichLrOffset(0)), 0u) << "save zeroes the used LRs";
  EXPECT_EQ(gich.Read32(hw::arm::kGichHcr), 0u);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
