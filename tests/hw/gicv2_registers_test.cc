// SPDX-License-Identifier: MIT
// GICv2 GICH_* layouts and offsets, and their translation to the abstract (ICH layout) state.
// Expected raw values are worked out by hand from the bit tables in shared/reference/gic.md §2
// (Arm IHI 0048B §5.3, Linux include/linux/irqchip/arm-gic.h), as written in each comment; none
// is computed by the code under test.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "hw/arm/gicv2_regs.h"
#include "hw/arm/gicv2_translation.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/reg/format.h"

namespace hw::arm {
namespace {

constexpr uint32_t Bit(int n) { return uint32_t{1} << n; }

// SGI 3 sent by CPU 2, pending, Group 1, priority 0xa0, with EOI (another source is queued):
// grp1 (bit 30) 0x40000000 | state 1 (bit 28) 0x10000000 | priority 0xa0 >> 3 = 0x14 << 23
// 0x0a000000 | eoi (bit 19) 0x00080000 | cpuid 2 << 10 0x00000800 | virtual id 0x3
constexpr uint32_t kPendingSgiFromCpu2 = 0x5a080803u;

// A hardware-backed active timer PPI: VirtualID 27 mapped to PhysicalID 27 (0x1b).
// hw (bit 31) 0x80000000 | grp1 0x40000000 | state 2 (bit 29) 0x20000000 | priority 0x0a000000
// | physical id 0x1b << 10 0x00006c00 | virtual id 0x1b
constexpr uint32_t kActiveHwTimerLr = 0xea006c1bu;

TEST(GichOffsets, MatchTheSpecification) {
  EXPECT_EQ(kGichHcr, 0x000u);
  EXPECT_EQ(kGichVtr, 0x004u);
  EXPECT_EQ(kGichVmcr, 0x008u);
  EXPECT_EQ(kGichMisr, 0x010u);
  EXPECT_EQ(kGichEisr0, 0x020u);
  EXPECT_EQ(kGichEisr1, 0x024u);
  EXPECT_EQ(kGichElrsr0, 0x030u);
  EXPECT_EQ(kGichElrsr1, 0x034u);
  EXPECT_EQ(kGichApr, 0x0f0u);
  EXPECT_EQ(kGichLr0, 0x100u);
  EXPECT_EQ(GichLrOffset(1), 0x104u);
  EXPECT_EQ(GichLrOffset(63), 0x1fcu);  // the last of 64
  EXPECT_EQ(kGicvDir, 0x1000u);         // the GICV window's second page
}

TEST(GichLrVirtual, GoldenValue) {
  GichLrVirtual lr;
  lr.set_virtual_id(3).set_cpuid(2).set_eoi(1).set_priority(0xa0 >> 3).set_grp1(1);
  lr.set_state(static_cast<uint64_t>(LrState::kPending));
  EXPECT_EQ(lr.raw(), kPendingSgiFromCpu2);
  EXPECT_FALSE(lr.has_reserved_bits_set());
  const auto back = GichLrVirtual::FromRaw(kPendingSgiFromCpu2);
  EXPECT_EQ(back.virtual_id(), 3u);
  EXPECT_EQ(back.cpuid(), 2u);
  EXPECT_EQ(back.eoi(), 1u);
  EXPECT_EQ(back.priority(), 0x14u);
  EXPECT_EQ(back.state(), 1u);
  EXPECT_EQ(back.grp1(), 1u);
  EXPECT_EQ(back.hw(), 0u);
}

TEST(GichLrVirtual, FieldsAtArchitecturalBits) {
  EXPECT_EQ(GichLrVirtual().set_virtual_id(0x3ff).raw(), 0x000003ffu);  // 9:0
  EXPECT_EQ(GichLrVirtual().set_cpuid(7).raw(), 0x00001c00u);           // 12:10
  EXPECT_EQ(GichLrVirtual().set_eoi(1).raw(), Bit(19));
  EXPECT_EQ(GichLrVirtual().set_priority(0x1f).raw(), 0x0f800000u);  // 27:23
  EXPECT_EQ(GichLrVirtual().set_state(1).raw(), Bit(28));            // Pending
  EXPECT_EQ(GichLrVirtual().set_state(2).raw(), Bit(29));            // Active
  EXPECT_EQ(GichLrVirtual().set_grp1(1).raw(), Bit(30));
  EXPECT_EQ(GichLrVirtual().set_hw(1).raw(), Bit(31));
}

TEST(GichLrVirtual, WideValuesAreRefusedAndReservedBitsFlagged) {
  GichLrVirtual lr;
  EXPECT_FALSE(lr.try_set_cpuid(8).ok()) << "CPUID is 3 bits: GICv2 has 8 CPUs";
  EXPECT_FALSE(lr.try_set_virtual_id(0x400).ok());
  EXPECT_FALSE(lr.try_set_priority(0x20).ok()) << "5 priority bits";
  EXPECT_EQ(lr.raw(), 0u) << "a refused value leaves the register alone";
  const auto junk = GichLrVirtual::FromRaw(kPendingSgiFromCpu2 | Bit(13) | Bit(21));
  EXPECT_TRUE(junk.has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", junk),
            "GichLrVirtual{virtual_id=0x3 cpuid=0x2 rsvd[18:13]=0x1! eoi=1 rsvd[22:20]=0x2! "
            "priority=0x14 state=0x1 grp1=1 hw=0}");
}

TEST(GichLrVirtual, Formatter) {
  EXPECT_EQ(fmt::format("{}", GichLrVirtual::FromRaw(kPendingSgiFromCpu2)),
            "GichLrVirtual{virtual_id=0x3 cpuid=0x2 eoi=1 priority=0x14 state=0x1 grp1=1 hw=0}");
}

TEST(GichLrHardware, GoldenValueAndFormat) {
  GichLrHardware lr;
  lr.set_virtual_id(27).set_physical_id(27).set_priority(0x14).set_grp1(1).set_hw(1);
  lr.set_state(static_cast<uint64_t>(LrState::kActive));
  EXPECT_EQ(lr.raw(), kActiveHwTimerLr);
  EXPECT_TRUE(GichLrIsHw(kActiveHwTimerLr));
  EXPECT_FALSE(GichLrIsHw(kPendingSgiFromCpu2));
  EXPECT_EQ(GichLrHardware().set_physical_id(0x3ff).raw(), 0x000ffc00u);  // 19:10
  EXPECT_EQ(fmt::format("{}", GichLrHardware::FromRaw(kActiveHwTimerLr)),
            "GichLrHardware{virtual_id=0x1b physical_id=0x1b priority=0x14 state=0x2 grp1=1 "
            "hw=1}");
}

TEST(GichHcr, GoldenValueAndBits) {
  // En | UIE | LRENPIE | NPIE | VGrp1DIE (bit 7) = 0x8f; EOICount 5 << 27 = 0x28000000.
  GichHcr hcr;
  hcr.set_en(1).set_uie(1).set_lrenpie(1).set_npie(1).set_vgrp1die(1).set_eoicount(5);
  EXPECT_EQ(hcr.raw(), 0x2800008fu);
  EXPECT_EQ(GichHcr().set_vgrp0eie(1).raw(), Bit(4));
  EXPECT_EQ(GichHcr().set_vgrp0die(1).raw(), Bit(5));
  EXPECT_EQ(GichHcr().set_vgrp1eie(1).raw(), Bit(6));
  EXPECT_EQ(GichHcr().set_eoicount(0x1f).raw(), 0xf8000000u);
  EXPECT_EQ(GichHcr::ReservedMask(0), 0x07ffff00u);  // 26:8
  EXPECT_EQ(fmt::format("{}", GichHcr::FromRaw(0x2800008fu)),
            "GichHcr{en=1 uie=1 lrenpie=1 npie=1 vgrp0eie=0 vgrp0die=0 vgrp1eie=0 vgrp1die=1 "
            "eoicount=0x5}");
}

TEST(GichVtr, FourListRegistersFivePriorityBits) {
  // ListRegs 3 | PREbits 4 << 26 0x10000000 | PRIbits 4 << 29 0x80000000: the reset value of
  // a GIC-400-like interface with 4 LRs.
  const auto vtr = GichVtr::FromRaw(0x90000003u);
  EXPECT_EQ(vtr.num_list_registers(), 4);
  EXPECT_EQ(vtr.pre_bits(), 4u);
  EXPECT_EQ(vtr.pri_bits(), 4u);
  EXPECT_EQ(GichVtr::FromRaw(0x3f).num_list_registers(), 64) << "ListRegs is 6 bits";
}

TEST(GichVmcr, GoldenValue) {
  // VMGrp1En (bit 1) 0x2 | EOImode (bit 9) 0x200 | VMABP 3 << 18 0xc0000 | VMBP 2 << 21
  // 0x400000 | VMPriMask 0x1f << 27 0xf8000000.
  GichVmcr vmcr;
  vmcr.set_vm_grp1_en(1).set_vm_eoi_mode(1).set_vm_abp(3).set_vm_bp(2).set_vm_pri_mask(0x1f);
  EXPECT_EQ(vmcr.raw(), 0xf84c0202u);
  EXPECT_EQ(GichVmcr().set_vm_grp0_en(1).raw(), Bit(0));
  EXPECT_EQ(GichVmcr().set_vm_ack_ctl(1).raw(), Bit(2));
  EXPECT_EQ(GichVmcr().set_vm_fiq_en(1).raw(), Bit(3));
  EXPECT_EQ(GichVmcr().set_vm_cbpr(1).raw(), Bit(4));
}

TEST(GichMisr, GoldenValueAndBits) {
  // EOI (bit 0) | NP (bit 3) | VGrp1D (bit 7) = 0x89.
  EXPECT_EQ(GichMisr().set_eoi(1).set_np(1).set_vgrp1d(1).raw(), 0x89u);
  EXPECT_EQ(GichMisr().set_u(1).raw(), Bit(1));
  EXPECT_EQ(GichMisr().set_lrenp(1).raw(), Bit(2));
  EXPECT_EQ(GichMisr().set_vgrp0e(1).raw(), Bit(4));
  EXPECT_EQ(GichMisr().set_vgrp0d(1).raw(), Bit(5));
  EXPECT_EQ(GichMisr().set_vgrp1e(1).raw(), Bit(6));
  EXPECT_EQ(fmt::format("{}", GichMisr::FromRaw(0x89u)),
            "GichMisr{eoi=1 u=0 lrenp=0 np=1 vgrp0e=0 vgrp0d=0 vgrp1e=0 vgrp1d=1}");
}

// --- translation to and from the abstract state's ICH layouts ---

TEST(Gicv2Translation, LrOfALevelSpi) {
  // ICH 0x50a0020000000020 (pending Group 1 SPI 32, EOI, priority 0xa0; see
  // arm_registers_test.cc) is GICH grp1 0x40000000 | pending 0x10000000 | 0x14 << 23 0x0a000000
  // | eoi 0x80000 | 0x20.
  EXPECT_EQ(GichLrFromIchLr(0x50a0020000000020u), 0x5a080020u);
  EXPECT_EQ(IchLrFromGichLr(0x5a080020u), 0x50a0020000000020u);
}

TEST(Gicv2Translation, SgiSourceTravelsInVintidBits12To10) {
  // ICH vINTID 3 | 2 << 10 = 0x803, pending, Group 1, priority 0xa0, EOI.
  EXPECT_EQ(GichLrFromIchLr(0x50a0020000000803u), kPendingSgiFromCpu2);
  EXPECT_EQ(IchLrFromGichLr(kPendingSgiFromCpu2), 0x50a0020000000803u);
}

TEST(Gicv2Translation, HwLrAndPriorityLowBits) {
  // ICH 0xb0a0001b0000001b: active, HW, Group 1, priority 0xa0, pINTID 27, vINTID 27.
  EXPECT_EQ(GichLrFromIchLr(0xb0a0001b0000001bu), kActiveHwTimerLr);
  EXPECT_EQ(IchLrFromGichLr(kActiveHwTimerLr), 0xb0a0001b0000001bu);
  // Priority 0xa7: GICv2 keeps bits 7:3 only, 0x14; back as 0xa0.
  EXPECT_EQ(GichLrFromIchLr(uint64_t{0xa7} << 48), 0x0a000000u);
  // NMI (bit 59) has no GICv2 counterpart.
  EXPECT_EQ(GichLrFromIchLr(uint64_t{1} << 59), 0u);
}

TEST(Gicv2Translation, HcrKeepsTheSharedBitsOnly) {
  // ICH: En, NPIE, vSGIEOICount (8), TDIR (14), EOIcount 3 << 27 = 0x18000000 -> GICH En | NPIE.
  const uint64_t ich = 0x1 | 0x8 | Bit(8) | Bit(14) | 0x18000000u;
  EXPECT_EQ(GichHcrFromIchHcr(ich), 0x18000009u);
  EXPECT_EQ(IchHcrFromGichHcr(0x2800008fu), 0x2800008fu) << "same positions in ICH_HCR_EL2";
}

TEST(Gicv2Translation, VmcrPriorityMaskIsTheTopFiveBits) {
  // ICH VPMR 0xf8 (31:24) is GICH VMPriMask 0x1f (31:27): the same bits.
  EXPECT_EQ(GichVmcrFromIchVmcr(0xf8000202u), 0xf8000202u);
  EXPECT_EQ(IchVmcrFromGichVmcr(0xf84c0202u), 0xf84c0202u);
  EXPECT_EQ(GichVmcrFromIchVmcr(0x07000000u), 0u) << "VPMR[2:0] is not implemented";
}

TEST(Gicv2Translation, Misr) {
  EXPECT_EQ(IchMisrFromGichMisr(0xffffff89u), 0x89u) << "RES0 bits dropped";
  EXPECT_EQ(GichMisrFromIchMisr(0xff), 0xffu);
}

}  // namespace
}  // namespace hw::arm
