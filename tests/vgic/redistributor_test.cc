// SPDX-License-Identifier: MIT
// The guest-facing GICv3 redistributors: the RD_base frame (TYPER naming each vCPU and Last on
// the last one, WAKER, the read-only ID registers) and the SGI_base frame's SGI/PPI registers of
// any vCPU, as a GICv3 guest's boot code and kvm-unit-tests use them. Expected values follow
// IHI 0069 §12.11 bit by bit (see each comment).
#include <cstdint>

#include "gtest/gtest.h"
#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/vcpu_affinity.h"
#include "tests/vgic/guest_gic.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

namespace arm = hw::arm;

TEST(Redistributor, TyperNamesEachVcpuAndMarksTheLast) {
  VgicHarness h({.num_vcpus = 18, .backend = Backend::kGicV3});
  GuestGic gic(h);
  // vCPU 17: Affinity_Value Aff1 = 1 (bits 47:40), Aff0 = 1 (39:32); Processor_Number 17 in
  // 23:8; Last (bit 4) since it is the last of 18.
  EXPECT_EQ(gic.RedistRead(0, 17, arm::kGicrTyper, 8), 0x0000'0101'0000'1110u);
  EXPECT_EQ(gic.RedistRead(0, 16, arm::kGicrTyper, 8), 0x0000'0100'0000'1000u);
  EXPECT_EQ(gic.RedistRead(0, 2, arm::kGicrTyper, 8), 0x0000'0002'0000'0200u);
  // 32-bit halves.
  EXPECT_EQ(gic.RedistRead(0, 17, arm::kGicrTyper, 4), 0x1110u);
  EXPECT_EQ(gic.RedistRead(0, 17, arm::kGicrTyper + 4, 4), 0x0101u);
  // The affinity a guest finds is the one IROUTER and ICC_SGI1R_EL1 name it by.
  EXPECT_EQ(VcpuMpidrAffinity(17), 0x0101u);
  // Read-only: TYPER, IIDR, PIDR2 (ArchRev 3).
  gic.RedistWrite(0, 17, arm::kGicrTyper, 0, 8);
  EXPECT_EQ(gic.RedistRead(0, 17, arm::kGicrTyper, 8), 0x0000'0101'0000'1110u);
  gic.RedistWrite(0, 3, arm::kGicrIidr, 0);
  EXPECT_EQ(gic.RedistRead(0, 3, arm::kGicrIidr), 0x4900043bu);
  gic.RedistWrite(0, 3, arm::kGicv3Pidr2, 0);
  EXPECT_EQ(gic.RedistRead(0, 3, arm::kGicv3Pidr2), 0x3bu);
  // GICR_CTLR is RAZ/WI without LPIs; beyond the last frame is RAZ/WI.
  gic.RedistWrite(0, 3, arm::kGicrCtlr, 0xffffffff);
  EXPECT_EQ(gic.RedistRead(0, 3, arm::kGicrCtlr), 0u);
  EXPECT_EQ(gic.RedistRead(0, 18, arm::kGicrTyper, 8), 0u);
}

TEST(Redistributor, WakerChildrenAsleepFollowsProcessorSleep) {
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV3});
  GuestGic gic(h);
  // Reset: ProcessorSleep (bit 1) and ChildrenAsleep (bit 2) set.
  EXPECT_EQ(gic.RedistRead(0, 1, arm::kGicrWaker), 0b110u);
  gic.RedistWrite(1, 1, arm::kGicrWaker, 0xfffffffd);  // clears ProcessorSleep; the rest RO/RES0
  EXPECT_EQ(gic.RedistRead(1, 1, arm::kGicrWaker), 0u) << "awake: the boot loop ends";
  EXPECT_EQ(gic.RedistRead(0, 0, arm::kGicrWaker), 0b110u) << "per vCPU";
  gic.RedistWrite(1, 1, arm::kGicrWaker, 0b010);
  EXPECT_EQ(gic.RedistRead(1, 1, arm::kGicrWaker), 0b110u);
}

TEST(Redistributor, SgiFrameProgramsAnotherVcpusPrivateInterrupts) {
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV3});
  GuestGic gic(h);
  const uint32_t sgi = arm::kGicrSgiBase;
  // vCPU 0 enables vCPU 1's PPI 27, priority 0x80, level, pends it.
  gic.RedistWrite(0, 1, sgi + arm::kGicrIsenabler0, 1u << 27);
  gic.RedistWrite(0, 1, sgi + arm::kGicrIpriorityr0 + 27, 0x80, 1);
  gic.RedistWrite(0, 1, sgi + arm::kGicrIcfgr1, 0);  // PPIs 16..31 level
  EXPECT_EQ(gic.RedistRead(0, 1, sgi + arm::kGicrIcfgr1), 0u);
  EXPECT_EQ(gic.RedistRead(0, 1, sgi + arm::kGicrIcfgr0), 0xaaaaaaaau) << "SGIs: edge, RO";
  EXPECT_EQ(gic.RedistRead(0, 1, sgi + arm::kGicrIsenabler0), 0x0800ffffu)
      << "SGIs enabled at reset, and PPI 27";
  EXPECT_EQ(gic.RedistRead(0, 0, sgi + arm::kGicrIsenabler0), 0x0000ffffu);
  gic.RedistWrite(0, 1, sgi + arm::kGicrIspendr0, 1u << 27);
  EXPECT_EQ(h.vgic().ApListLength(1), 1u);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u);
  h.Enter(1);
  EXPECT_EQ(h.guest(1).Acknowledge(1), 27u);
  EXPECT_EQ(gic.RedistRead(1, 1, sgi + arm::kGicrIsactiver0), 1u << 27);
  gic.RedistWrite(0, 1, sgi + arm::kGicrIcactiver0, 1u << 27);  // from the other vCPU
  EXPECT_FALSE(h.vgic().Snapshot(1, 27)->active);
  EXPECT_EQ(h.guest(1).Acknowledge(1), hw::fake::kSpuriousIntid)
      << "a level latch is consumed by the deactivation";
  h.Exit(1);
  EXPECT_EQ(h.vgic().ApListLength(1), 0u);
  // IGROUPR0 reads back; IGRPMODR0 and NSACR are RAZ/WI with DS = 1.
  gic.RedistWrite(1, 1, sgi + arm::kGicrIgroupr0, 0x0000fffe);
  EXPECT_EQ(gic.RedistRead(1, 1, sgi + arm::kGicrIgroupr0), 0x0000fffeu);
  gic.RedistWrite(1, 1, sgi + arm::kGicdIgrpmodr, 0xffffffff);
  EXPECT_EQ(gic.RedistRead(1, 1, sgi + arm::kGicdIgrpmodr), 0u);
}

TEST(Redistributor, GicV2GuestsHaveNoneAndUnknownVcpusAreErrors) {
  VgicHarness v2({.num_vcpus = 2, .backend = Backend::kGicV2});
  EXPECT_EQ(Redistributors<Platform>::Create(v2.vgic()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV3});
  auto r = Redistributors<Platform>::Create(h.vgic());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Read(2, 0, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->Write(5, 0, 4, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*r)->Write(0, 0x10003, 2, 0xffff).ok()) << "misaligned guest access: ignored";
}

}  // namespace
}  // namespace irqvirt::vgic::testing
