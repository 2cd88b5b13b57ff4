// SPDX-License-Identifier: MIT
// GICv3 ICH_*_EL2 layouts and system-register encodings. Expected raw values are worked out by
// hand from the bit tables in shared/reference/gic.md §1 (Arm IHI 0069 §12.4, Linux
// arch/arm64/tools/sysreg and asm/sysreg.h), as written in each comment; none is computed by the
// code under test.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/icc_sysregs.h"
#include "hw/arm/sysreg.h"
#include "hw/reg/format.h"
#include "tests/hw/expect_encoding.h"

namespace hw::arm {
namespace {

constexpr uint64_t Bit(int n) { return uint64_t{1} << n; }

// --- ICH_LR<n>_EL2, HW = 0 (gic.md §1.2) ---

// A pending Group 1 level SPI (vINTID 32) with EOI: the hypervisor wants a maintenance
// interrupt when the guest deactivates it (KVM does this for level interrupts it resamples).
// state=1 (bit 62) 0x4000000000000000 | group (bit 60) 0x1000000000000000
// | priority 0xa0 << 48 0x00a0000000000000 | eoi (bit 41) 0x0000020000000000 | vintid 0x20
constexpr uint64_t kPendingLevelSpiLr = 0x50a0020000000020u;

// A hardware-backed active timer-like PPI: vINTID 27 mapped to pINTID 27 (0x1b).
// state=2 (bit 63) 0x8000000000000000 | hw (bit 61) 0x2000000000000000
// | group (bit 60) 0x1000000000000000 | priority 0xa0 << 48 0x00a0000000000000
// | pintid 0x1b << 32 0x0000001b00000000 | vintid 0x1b
constexpr uint64_t kActiveHwTimerLr = 0xb0a0001b0000001bu;

TEST(IchLrVirtual, GoldenValue) {
  IchLrVirtual lr;
  lr.set_vintid(0x20).set_eoi(1).set_priority(0xa0).set_group(1);
  lr.set_state(static_cast<uint64_t>(LrState::kPending));
  EXPECT_EQ(lr.raw(), kPendingLevelSpiLr);
  EXPECT_FALSE(lr.has_reserved_bits_set());
}

TEST(IchLrVirtual, FieldsAtArchitecturalBits) {
  EXPECT_EQ(IchLrVirtual().set_vintid(0xffffffff).raw(), 0x00000000ffffffffu);  // 31:0
  EXPECT_EQ(IchLrVirtual().set_eoi(1).raw(), Bit(41));
  EXPECT_EQ(IchLrVirtual().set_priority(0xff).raw(), 0x00ff000000000000u);  // 55:48
  EXPECT_EQ(IchLrVirtual().set_nmi(1).raw(), Bit(59));
  EXPECT_EQ(IchLrVirtual().set_group(1).raw(), Bit(60));
  EXPECT_EQ(IchLrVirtual().set_hw(1).raw(), Bit(61));
  EXPECT_EQ(IchLrVirtual().set_state(1).raw(), Bit(62));  // Pending
  EXPECT_EQ(IchLrVirtual().set_state(2).raw(), Bit(63));  // Active
  EXPECT_EQ(IchLrVirtual().set_state(3).raw(), 0xc000000000000000u);
}

TEST(IchLrVirtual, RoundTrip) {
  const IchLrVirtual lr = IchLrVirtual::FromRaw(kPendingLevelSpiLr);
  EXPECT_EQ(lr.vintid(), 0x20u);
  EXPECT_EQ(lr.eoi(), 1u);
  EXPECT_EQ(lr.priority(), 0xa0u);
  EXPECT_EQ(lr.nmi(), 0u);
  EXPECT_EQ(lr.group(), 1u);
  EXPECT_EQ(lr.hw(), 0u);
  EXPECT_EQ(lr.state(), 1u);
  IchLrVirtual copy;
  copy.set_vintid(lr.vintid()).set_eoi(lr.eoi()).set_priority(lr.priority());
  copy.set_nmi(lr.nmi()).set_group(lr.group()).set_hw(lr.hw()).set_state(lr.state());
  EXPECT_EQ(copy.raw(), kPendingLevelSpiLr);
  EXPECT_EQ(copy, lr);
}

TEST(IchLrVirtual, ReservedBitsFlagged) {
  // pINTID[8:0] is RES0 when HW = 0: bits 40:32. Bit 41 is EOI. 47:42 and 58:56 are RES0.
  for (int b : {32, 36, 40, 42, 44, 45, 47, 56, 58}) {
    EXPECT_TRUE(IchLrVirtual::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  for (int b : {0, 31, 41, 48, 55, 59, 60, 61, 62, 63}) {
    EXPECT_FALSE(IchLrVirtual::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_TRUE(IchLrVirtual::FromRaw(kPendingLevelSpiLr | Bit(40)).has_reserved_bits_set());
  // The hardware LR read through the virtual view: pINTID 0x1b lands in RES0 bits.
  EXPECT_TRUE(IchLrVirtual::FromRaw(kActiveHwTimerLr).has_reserved_bits_set());
}

TEST(IchLrVirtual, Formatter) {
  EXPECT_EQ(fmt::format("{}", IchLrVirtual::FromRaw(kPendingLevelSpiLr)),
            "IchLrVirtual{vintid=0x20 eoi=1 priority=0xa0 nmi=0 group=1 hw=0 state=0x1}");
  // Bit 40 is bit 8 of the RES0 range 40:32 -> 0x100.
  EXPECT_EQ(fmt::format("{}", IchLrVirtual::FromRaw(kPendingLevelSpiLr | Bit(40))),
            "IchLrVirtual{vintid=0x20 rsvd[40:32]=0x100! eoi=1 priority=0xa0 nmi=0 group=1 hw=0 "
            "state=0x1}");
}

// --- ICH_LR<n>_EL2, HW = 1 ---

TEST(IchLrHardware, GoldenValue) {
  IchLrHardware lr;
  lr.set_vintid(27).set_pintid(27).set_priority(0xa0).set_group(1).set_hw(1);
  lr.set_state(static_cast<uint64_t>(LrState::kActive));
  EXPECT_EQ(lr.raw(), kActiveHwTimerLr);
  EXPECT_FALSE(lr.has_reserved_bits_set());
}

TEST(IchLrHardware, RoundTripAndFormat) {
  const IchLrHardware lr = IchLrHardware::FromRaw(kActiveHwTimerLr);
  EXPECT_EQ(lr.vintid(), 0x1bu);
  EXPECT_EQ(lr.pintid(), 0x1bu);
  EXPECT_EQ(lr.priority(), 0xa0u);
  EXPECT_EQ(lr.nmi(), 0u);
  EXPECT_EQ(lr.group(), 1u);
  EXPECT_EQ(lr.hw(), 1u);
  EXPECT_EQ(lr.state(), 2u);
  IchLrHardware copy;
  copy.set_vintid(lr.vintid()).set_pintid(lr.pintid()).set_priority(lr.priority());
  copy.set_nmi(lr.nmi()).set_group(lr.group()).set_hw(lr.hw()).set_state(lr.state());
  EXPECT_EQ(copy.raw(), kActiveHwTimerLr);
  EXPECT_EQ(fmt::format("{}", lr),
            "IchLrHardware{vintid=0x1b pintid=0x1b priority=0xa0 nmi=0 group=1 hw=1 state=0x2}");
}

TEST(IchLrHardware, PintidIs13BitsAndReservedBits) {
  // pINTID is 44:32 (13 bits): 0x1fff << 32 = 0x00001fff00000000, no reserved bit.
  EXPECT_EQ(IchLrHardware().set_pintid(0x1fff).raw(), 0x00001fff00000000u);
  EXPECT_FALSE(IchLrHardware::FromRaw(0x00001fff00000000u).has_reserved_bits_set());
  // Bit 41 is pINTID bit 9 here, not EOI: pINTID 0x200 -> 0x200 << 32 = bit 41.
  EXPECT_EQ(IchLrHardware().set_pintid(0x200).raw(), Bit(41));
  // 47:45 and 58:56 are RES0.
  for (int b : {45, 46, 47, 56, 57, 58}) {
    EXPECT_TRUE(IchLrHardware::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_TRUE(IchLrHardware::FromRaw(kActiveHwTimerLr | Bit(45)).has_reserved_bits_set());
  EXPECT_FALSE(IchLrHardware::FromRaw(Bit(44)).has_reserved_bits_set());
  EXPECT_FALSE(IchLrHardware::FromRaw(Bit(59)).has_reserved_bits_set());
}

// --- Shared LR helpers ---

TEST(IchLrHelpers, Constants) {
  EXPECT_EQ(kIchLrHwBit, 0x2000000000000000u);       // bit 61
  EXPECT_EQ(kIchLrEoiBit, 0x0000020000000000u);      // bit 41
  EXPECT_EQ(kIchLrPendingBit, 0x4000000000000000u);  // bit 62
  EXPECT_EQ(kIchLrActiveBit, 0x8000000000000000u);   // bit 63
}

TEST(IchLrHelpers, IsHwStateVintid) {
  EXPECT_FALSE(IchLrIsHw(kPendingLevelSpiLr));
  EXPECT_TRUE(IchLrIsHw(kActiveHwTimerLr));
  EXPECT_EQ(IchLrStateOf(kPendingLevelSpiLr), LrState::kPending);
  EXPECT_EQ(IchLrStateOf(kActiveHwTimerLr), LrState::kActive);
  EXPECT_EQ(IchLrStateOf(0xc000000000000000u), LrState::kPendingActive);  // bits 63 and 62
  EXPECT_EQ(IchLrStateOf(0x3fffffffffffffffu), LrState::kInvalid);        // all but 63:62
  EXPECT_EQ(IchLrVintid(kPendingLevelSpiLr), 0x20u);
  EXPECT_EQ(IchLrVintid(kActiveHwTimerLr), 0x1bu);
  // The whole 32-bit vINTID, nothing above it.
  EXPECT_EQ(IchLrVintid(0xffffffffffffffffu), 0xffffffffu);
}

TEST(IchLrHelpers, SignalsEoi) {
  // The pending SPI after the guest deactivated it: state 0, EOI still set.
  // 0x50a0020000000020 without bit 62 -> 0x10a0020000000020.
  EXPECT_TRUE(IchLrSignalsEoi(0x10a0020000000020u));
  EXPECT_FALSE(IchLrSignalsEoi(kPendingLevelSpiLr)) << "still pending";
  EXPECT_FALSE(IchLrSignalsEoi(0x90a0020000000020u)) << "active (bit 63)";
  EXPECT_FALSE(IchLrSignalsEoi(0x10a0000000000020u)) << "no EOI bit";
  // HW = 1, invalid, pINTID 0x200 (bit 41 set as pINTID bit 9):
  // hw (bit 61) 0x2000000000000000 | group 0x1000000000000000 | 0x200 << 32 = 0x3000020000000000.
  EXPECT_FALSE(IchLrSignalsEoi(0x3000020000000000u));
}

// --- ICH_HCR_EL2 (gic.md §1.3) ---

TEST(IchHcr, GoldenValue) {
  IchHcr h;
  h.set_en(1).set_uie(1).set_lrenpie(1).set_npie(1).set_tdir(1).set_eoicount(5);
  // En bit 0 | UIE bit 1 | LRENPIE bit 2 | NPIE bit 3 = 0xf; TDIR bit 14 = 0x4000;
  // EOIcount 5 << 27 = 0x28000000 -> 0x2800400f.
  EXPECT_EQ(h.raw(), 0x2800400fu);
  EXPECT_FALSE(h.has_reserved_bits_set());
  const IchHcr back = IchHcr::FromRaw(0x2800400fu);
  EXPECT_EQ(back.en(), 1u);
  EXPECT_EQ(back.uie(), 1u);
  EXPECT_EQ(back.lrenpie(), 1u);
  EXPECT_EQ(back.npie(), 1u);
  EXPECT_EQ(back.tdir(), 1u);
  EXPECT_EQ(back.tc(), 0u);
  EXPECT_EQ(back.eoicount(), 5u);
  EXPECT_EQ(back, h);
}

TEST(IchHcr, BitNumbers) {
  EXPECT_EQ(IchHcr().set_vgrp0eie(1).raw(), Bit(4));
  EXPECT_EQ(IchHcr().set_vgrp0die(1).raw(), Bit(5));
  EXPECT_EQ(IchHcr().set_vgrp1eie(1).raw(), Bit(6));
  EXPECT_EQ(IchHcr().set_vgrp1die(1).raw(), Bit(7));
  EXPECT_EQ(IchHcr().set_vsgieoicount(1).raw(), Bit(8));
  EXPECT_EQ(IchHcr().set_tc(1).raw(), Bit(10));
  EXPECT_EQ(IchHcr().set_tall0(1).raw(), Bit(11));
  EXPECT_EQ(IchHcr().set_tall1(1).raw(), Bit(12));
  EXPECT_EQ(IchHcr().set_tsei(1).raw(), Bit(13));
  EXPECT_EQ(IchHcr().set_dvim(1).raw(), Bit(15));
  EXPECT_EQ(IchHcr().set_eoicount(31).raw(), 0xf8000000u);  // 0x1f << 27
  // RES0: 9, 26:16, 63:32.
  for (int b : {9, 16, 20, 26, 32, 63}) {
    EXPECT_TRUE(IchHcr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_EQ(fmt::format("{}", IchHcr::FromRaw(0x2800400fu)),
            "IchHcr{en=1 uie=1 lrenpie=1 npie=1 vgrp0eie=0 vgrp0die=0 vgrp1eie=0 vgrp1die=0 "
            "vsgieoicount=0 tc=0 tall0=0 tall1=0 tsei=0 tdir=1 dvim=0 eoicount=0x5}");
}

// --- ICH_VTR_EL2 (gic.md §1.4) ---

TEST(IchVtr, CortexA76LikeValue) {
  IchVtr v;
  v.set_list_regs(3).set_pre_bits(4).set_pri_bits(4).set_id_bits(0).set_tds(1);
  // PRIbits 4 << 29 = 0x80000000 | PREbits 4 << 26 = 0x10000000 | IDbits 0
  // | TDS bit 19 = 0x00080000 | ListRegs 3 -> 0x90080003.
  EXPECT_EQ(v.raw(), 0x90080003u);
  const IchVtr back = IchVtr::FromRaw(0x90080003u);
  EXPECT_EQ(back.list_regs(), 3u);
  EXPECT_EQ(back.pre_bits(), 4u);
  EXPECT_EQ(back.pri_bits(), 4u);
  EXPECT_EQ(back.id_bits(), 0u);
  EXPECT_EQ(back.tds(), 1u);
  EXPECT_EQ(back.seis(), 0u);
  EXPECT_EQ(back.num_list_registers(), 4);
  EXPECT_EQ(back.num_apr_registers(), 1);  // 5 preemption bits -> one APR per group
  EXPECT_FALSE(back.has_reserved_bits_set());
}

TEST(IchVtr, AprCountFollowsPreemptionBits) {
  // PREbits 5 (6 bits) -> 2 APRs: 5 << 26 = 0x14000000.
  EXPECT_EQ(IchVtr::FromRaw(0x14000000u).pre_bits(), 5u);
  EXPECT_EQ(IchVtr::FromRaw(0x14000000u).num_apr_registers(), 2);
  // PREbits 6 (7 bits) -> 4 APRs: PRIbits 6 << 29 = 0xc0000000 | 6 << 26 = 0x18000000.
  EXPECT_EQ(IchVtr::FromRaw(0xd8000000u).pre_bits(), 6u);
  EXPECT_EQ(IchVtr::FromRaw(0xd8000000u).pri_bits(), 6u);
  EXPECT_EQ(IchVtr::FromRaw(0xd8000000u).num_apr_registers(), 4);
}

TEST(IchVtr, ListRegsBit4IsIgnored) {
  EXPECT_EQ(IchVtr::FromRaw(0x0fu).num_list_registers(), 16);
  EXPECT_EQ(IchVtr::FromRaw(0x1fu).list_regs(), 0x1fu);
  EXPECT_EQ(IchVtr::FromRaw(0x1fu).num_list_registers(), 16);  // 0x1f & 0xf = 15, + 1
  EXPECT_EQ(IchVtr::FromRaw(0x10u).num_list_registers(), 1);   // 0x10 & 0xf = 0, + 1
  EXPECT_EQ(IchVtr::FromRaw(0x00u).num_list_registers(), 1);
  EXPECT_EQ(kMaxListRegisters, 16);
  EXPECT_EQ(kMaxAprRegisters, 4);
}

TEST(IchVtr, BitNumbers) {
  EXPECT_EQ(IchVtr().set_dvim(1).raw(), Bit(18));
  EXPECT_EQ(IchVtr().set_tds(1).raw(), Bit(19));
  EXPECT_EQ(IchVtr().set_nv4(1).raw(), Bit(20));
  EXPECT_EQ(IchVtr().set_a3v(1).raw(), Bit(21));
  EXPECT_EQ(IchVtr().set_seis(1).raw(), Bit(22));
  EXPECT_EQ(IchVtr().set_id_bits(1).raw(), 0x00800000u);   // 24-bit IDs: 1 << 23
  EXPECT_EQ(IchVtr().set_pre_bits(7).raw(), 0x1c000000u);  // 28:26
  EXPECT_EQ(IchVtr().set_pri_bits(7).raw(), 0xe0000000u);  // 31:29
  // RES0: 17:5, 63:32.
  for (int b : {5, 10, 17, 32, 63}) {
    EXPECT_TRUE(IchVtr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
}

// --- ICH_MISR_EL2 (gic.md §1.5) ---

TEST(IchMisr, GoldenValueAndBits) {
  IchMisr m;
  m.set_eoi(1).set_np(1).set_vgrp1d(1);
  // EOI bit 0 (0x1) | NP bit 3 (0x8) | VGrp1D bit 7 (0x80) -> 0x89.
  EXPECT_EQ(m.raw(), 0x89u);
  EXPECT_EQ(IchMisr::FromRaw(0x89u), m);
  EXPECT_EQ(IchMisr().set_u(1).raw(), Bit(1));
  EXPECT_EQ(IchMisr().set_lrenp(1).raw(), Bit(2));
  EXPECT_EQ(IchMisr().set_vgrp0e(1).raw(), Bit(4));
  EXPECT_EQ(IchMisr().set_vgrp0d(1).raw(), Bit(5));
  EXPECT_EQ(IchMisr().set_vgrp1e(1).raw(), Bit(6));
  EXPECT_FALSE(IchMisr::FromRaw(0xffu).has_reserved_bits_set());
  EXPECT_TRUE(IchMisr::FromRaw(Bit(8)).has_reserved_bits_set());
  EXPECT_TRUE(IchMisr::FromRaw(Bit(63)).has_reserved_bits_set());
}

// --- ICH_VMCR_EL2 (gic.md §1.7) ---

TEST(IchVmcr, GoldenValue) {
  IchVmcr v;
  v.set_vpmr(0xf0).set_vbpr0(2).set_vbpr1(3).set_veoim(1).set_vfiqen(1).set_veng1(1);
  // VPMR 0xf0 << 24 = 0xf0000000 | VBPR0 2 << 21 = 0x00400000 | VBPR1 3 << 18 = 0x000c0000
  // | VEOIM bit 9 = 0x200 | VFIQEn bit 3 = 0x8 | VENG1 bit 1 = 0x2 -> 0xf04c020a.
  EXPECT_EQ(v.raw(), 0xf04c020au);
  const IchVmcr back = IchVmcr::FromRaw(0xf04c020au);
  EXPECT_EQ(back.vpmr(), 0xf0u);
  EXPECT_EQ(back.vbpr0(), 2u);
  EXPECT_EQ(back.vbpr1(), 3u);
  EXPECT_EQ(back.veoim(), 1u);
  EXPECT_EQ(back.vfiqen(), 1u);
  EXPECT_EQ(back.veng1(), 1u);
  EXPECT_EQ(back.veng0(), 0u);
  EXPECT_FALSE(back.has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", back),
            "IchVmcr{veng0=0 veng1=1 vackctl=0 vfiqen=1 vcbpr=0 veoim=1 vbpr1=0x3 vbpr0=0x2 "
            "vpmr=0xf0}");
}

TEST(IchVmcr, BitNumbers) {
  EXPECT_EQ(IchVmcr().set_veng0(1).raw(), Bit(0));
  EXPECT_EQ(IchVmcr().set_vackctl(1).raw(), Bit(2));
  EXPECT_EQ(IchVmcr().set_vcbpr(1).raw(), Bit(4));
  EXPECT_EQ(IchVmcr().set_vbpr1(7).raw(), 0x001c0000u);  // 20:18
  EXPECT_EQ(IchVmcr().set_vbpr0(7).raw(), 0x00e00000u);  // 23:21
  EXPECT_EQ(IchVmcr().set_vpmr(0xff).raw(), 0xff000000u);
  // RES0: 8:5, 17:10, 63:32.
  for (int b : {5, 8, 10, 17, 32}) {
    EXPECT_TRUE(IchVmcr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
}

// --- ICH_AP0R<n>/AP1R<n>_EL2 (gic.md §1.8) and EISR/ELRSR (§1.6) ---

TEST(IchApr, ThirtyTwoActivePriorityBits) {
  EXPECT_EQ(IchApr::FromRaw(0x80000001u).active_priorities(), 0x80000001u);
  EXPECT_EQ(IchApr().set_active_priorities(0xffffffff).raw(), 0xffffffffu);
  EXPECT_FALSE(IchApr::FromRaw(0xffffffffu).has_reserved_bits_set());
  EXPECT_TRUE(IchApr::FromRaw(Bit(32)).has_reserved_bits_set());
}

TEST(IchLrBitmap, OneBitPerLr) {
  // LRs 0, 2 and 3 -> 0b1101 = 0xd.
  EXPECT_EQ(IchLrBitmap().set_status(0xd).raw(), 0xdu);
  EXPECT_EQ(IchLrBitmap::FromRaw(0xffffu).status(), 0xffffu);
  EXPECT_FALSE(IchLrBitmap::FromRaw(0xffffu).has_reserved_bits_set());
  EXPECT_TRUE(IchLrBitmap::FromRaw(Bit(16)).has_reserved_bits_set());
}

// --- Encodings (gic.md §1.1) ---

using testing::ExpectEncoding;

TEST(IchEncodings, TuplesMatchGicMd) {
  ExpectEncoding(kIchHcrEl2, 3, 4, 12, 11, 0);
  ExpectEncoding(kIchVtrEl2, 3, 4, 12, 11, 1);
  ExpectEncoding(kIchMisrEl2, 3, 4, 12, 11, 2);
  ExpectEncoding(kIchEisrEl2, 3, 4, 12, 11, 3);
  ExpectEncoding(kIchElrsrEl2, 3, 4, 12, 11, 5);
  ExpectEncoding(kIchVmcrEl2, 3, 4, 12, 11, 7);
  ExpectEncoding(IchAp0rEl2(0), 3, 4, 12, 8, 0);
  ExpectEncoding(IchAp0rEl2(3), 3, 4, 12, 8, 3);
  ExpectEncoding(IchAp1rEl2(0), 3, 4, 12, 9, 0);
  ExpectEncoding(IchAp1rEl2(2), 3, 4, 12, 9, 2);
  ExpectEncoding(IchAp1rEl2(3), 3, 4, 12, 9, 3);
  ExpectEncoding(IchLrEl2(0), 3, 4, 12, 12, 0);
  ExpectEncoding(IchLrEl2(7), 3, 4, 12, 12, 7);
  ExpectEncoding(IchLrEl2(8), 3, 4, 12, 13, 0);
  ExpectEncoding(IchLrEl2(9), 3, 4, 12, 13, 1);
  ExpectEncoding(IchLrEl2(15), 3, 4, 12, 13, 7);
  EXPECT_TRUE(IchLrEl2(9) == (SysRegEncoding{3, 4, 12, 13, 1}));
  EXPECT_TRUE(IchAp1rEl2(2) == (SysRegEncoding{3, 4, 12, 9, 2}));
  EXPECT_FALSE(IchLrEl2(8) == IchLrEl2(0));
  EXPECT_FALSE(kIchVmcrEl2 == kIchHcrEl2);
}

TEST(IchEncodings, KeyPacking) {
  // key = op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2.
  // ICH_HCR_EL2: 3 << 14 = 0xc000 | 4 << 11 = 0x2000 | 12 << 7 = 0x600 | 11 << 3 = 0x58 | 0
  //            = 0xe658.
  EXPECT_EQ(kIchHcrEl2.key(), 0xe658u);
  EXPECT_EQ(kIchVtrEl2.key(), 0xe659u);    // op2 1
  EXPECT_EQ(kIchMisrEl2.key(), 0xe65au);   // op2 2
  EXPECT_EQ(kIchEisrEl2.key(), 0xe65bu);   // op2 3
  EXPECT_EQ(kIchElrsrEl2.key(), 0xe65du);  // op2 5
  EXPECT_EQ(kIchVmcrEl2.key(), 0xe65fu);   // op2 7
  // ICH_AP0R0_EL2: 0xe600 | 8 << 3 = 0x40 -> 0xe640; AP0R3 -> 0xe643.
  EXPECT_EQ(IchAp0rEl2(0).key(), 0xe640u);
  EXPECT_EQ(IchAp0rEl2(3).key(), 0xe643u);
  // ICH_AP1R2_EL2: 0xe600 | 9 << 3 = 0x48 | 2 -> 0xe64a.
  EXPECT_EQ(IchAp1rEl2(2).key(), 0xe64au);
  // ICH_LR0_EL2: 0xe600 | 12 << 3 = 0x60 -> 0xe660; LR8: 13 << 3 = 0x68 -> 0xe668. The 16 LRs
  // occupy the contiguous keys 0xe660..0xe66f.
  EXPECT_EQ(IchLrEl2(0).key(), 0xe660u);
  EXPECT_EQ(IchLrEl2(7).key(), 0xe667u);
  EXPECT_EQ(IchLrEl2(8).key(), 0xe668u);
  EXPECT_EQ(IchLrEl2(9).key(), 0xe669u);
  EXPECT_EQ(IchLrEl2(15).key(), 0xe66fu);
}

TEST(IchEncodings, KeyIsMrsInstructionBits20To5) {
  // MRS Xt, <sysreg> = 0xd5200000 | key << 5 | Rt. Expected words from
  // `llvm-mc -triple=aarch64 -show-encoding` for `mrs x0, <reg>`.
  EXPECT_EQ(0xd5200000u | kIchHcrEl2.key() << 5, 0xd53ccb00u);
  EXPECT_EQ(0xd5200000u | kIchVmcrEl2.key() << 5, 0xd53ccbe0u);
  EXPECT_EQ(0xd5200000u | IchAp1rEl2(2).key() << 5, 0xd53cc940u);
  EXPECT_EQ(0xd5200000u | IchLrEl2(9).key() << 5, 0xd53ccd20u);
}

// --- The guest's ICC_* / ICV_* registers (Linux asm/sysreg.h SYS_ICC_*; IHI 0069 §12.2) ---

TEST(IccEncodings, TuplesAndTrapClasses) {
  ExpectEncoding(kIccPmrEl1, 3, 0, 4, 6, 0);
  ExpectEncoding(kIccIar0El1, 3, 0, 12, 8, 0);
  ExpectEncoding(kIccBpr0El1, 3, 0, 12, 8, 3);
  ExpectEncoding(IccAp0rEl1(3), 3, 0, 12, 8, 7);
  ExpectEncoding(IccAp1rEl1(2), 3, 0, 12, 9, 2);
  ExpectEncoding(kIccDirEl1, 3, 0, 12, 11, 1);
  ExpectEncoding(kIccRprEl1, 3, 0, 12, 11, 3);
  ExpectEncoding(kIccSgi1rEl1, 3, 0, 12, 11, 5);
  ExpectEncoding(kIccSgi0rEl1, 3, 0, 12, 11, 7);
  ExpectEncoding(kIccIar1El1, 3, 0, 12, 12, 0);
  ExpectEncoding(kIccEoir1El1, 3, 0, 12, 12, 1);
  ExpectEncoding(kIccCtlrEl1, 3, 0, 12, 12, 4);
  ExpectEncoding(kIccIgrpen1El1, 3, 0, 12, 12, 7);
  // MRS x0, ICC_IAR1_EL1 (hand-assembled: 0xd5380000 | key << 5).
  EXPECT_EQ(0xd5200000u | kIccIar1El1.key() << 5, 0xd538cc00u);
  EXPECT_EQ(TrapClassOf(kIccPmrEl1), IccTrapClass::kCommon);
  EXPECT_EQ(TrapClassOf(kIccDirEl1), IccTrapClass::kCommon);
  EXPECT_EQ(TrapClassOf(kIccBpr0El1), IccTrapClass::kGroup0);
  EXPECT_EQ(TrapClassOf(IccAp1rEl1(3)), IccTrapClass::kGroup1);
  EXPECT_EQ(TrapClassOf(kIchHcrEl2), IccTrapClass::kNone);
}

TEST(IccCtlr, GoldenValue) {
  IccCtlr c;
  c.set_cbpr(1)
      .set_eoimode(1)
      .set_pri_bits(4)
      .set_id_bits(1)
      .set_seis(1)
      .set_a3v(1)
      .set_rss(1)
      .set_extrange(1);
  // Hand-computed: bits 0, 1 | 4 << 8 | 1 << 11 | bits 14, 15, 18, 19.
  EXPECT_EQ(c.raw(), 0xccc03u);
}

}  // namespace
}  // namespace hw::arm
