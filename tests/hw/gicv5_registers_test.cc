// SPDX-License-Identifier: MIT
// GICv5 register layouts, operands and encodings (hw/arm/gicv5_regs.h). Expected raw values are
// worked out by hand from the bit tables in shared/reference/gic.md §4, re-checked against Linux
// arch/arm64/tools/sysreg (GICv5 patches), include/linux/irqchip/arm-gic-v5.h and the armreg-style
// GICv5 header, as written in each comment; none is computed by the code under test. Instruction
// words are the ones `llvm-mc -triple=aarch64 -show-encoding` prints for the generic
// S3_<op1>_C<n>_C<m>_<op2> / `sys` spelling; the two GIC instructions also match the binutils gas
// GICv5 test (`gic vdpend, x0` = d50cc180, `gic vdrcfg, x0` = d50cc1a0).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/arm/sysreg.h"
#include "hw/reg/format.h"
#include "tests/hw/expect_encoding.h"

namespace hw::arm {
namespace {

constexpr uint64_t Bit(int n) { return uint64_t{1} << n; }
constexpr uint64_t kSpi = static_cast<uint64_t>(Gicv5IntidType::kSpi);
constexpr uint64_t kPpi = static_cast<uint64_t>(Gicv5IntidType::kPpi);
constexpr uint64_t kLpi = static_cast<uint64_t>(Gicv5IntidType::kLpi);

// --- INTID (gic.md §4.1) ---

// SPI 37: TYPE 3 << 29 = 0x60000000 | ID 0x25 -> 0x60000025.
constexpr uint32_t kSpi37 = 0x60000025u;

TEST(Gicv5Intid, GoldenValues) {
  EXPECT_EQ(Gicv5Intid().set_id(37).set_type(kSpi).raw(), kSpi37);
  // PPI 30: TYPE 1 << 29 = 0x20000000 | 0x1e.
  EXPECT_EQ(Gicv5Intid().set_id(30).set_type(kPpi).raw(), 0x2000001eu);
  // LPI 0x2000: TYPE 2 << 29 = 0x40000000 | 0x2000.
  EXPECT_EQ(Gicv5Intid().set_id(0x2000).set_type(kLpi).raw(), 0x40002000u);
  // The largest ID fills 23:0 exactly.
  EXPECT_EQ(Gicv5Intid().set_id(kGicv5MaxId).raw(), 0x00ffffffu);
  EXPECT_EQ(kGicv5MaxId, 0xffffffu);
  const Gicv5Intid back = Gicv5Intid::FromRaw(kSpi37);
  EXPECT_EQ(back.id(), 37u);
  EXPECT_EQ(back.type(), kSpi);
  EXPECT_FALSE(back.has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", back), "Gicv5Intid{id=0x25 type=0x3}");
}

TEST(Gicv5Intid, ReservedBits) {
  // 28:24 are reserved: 0x01000000 .. 0x10000000.
  for (int b : {24, 26, 28}) {
    EXPECT_TRUE(Gicv5Intid::FromRaw(static_cast<uint32_t>(Bit(b))).has_reserved_bits_set())
        << "bit " << b;
  }
  for (int b : {0, 23, 29, 31}) {
    EXPECT_FALSE(Gicv5Intid::FromRaw(static_cast<uint32_t>(Bit(b))).has_reserved_bits_set())
        << "bit " << b;
  }
  EXPECT_EQ(Gicv5Intid::ReservedMask(0), 0x1f000000u);
  // kSpi37 | bit 24 = 0x61000025.
  EXPECT_EQ(fmt::format("{}", Gicv5Intid::FromRaw(0x61000025u)),
            "Gicv5Intid{id=0x25 rsvd[28:24]=0x1! type=0x3}");
}

// --- ICC_ICSR_EL1 (gic.md §4.2) ---

// Pending (bit 2) 0x4 | Active (bit 4) 0x10 | HM (bit 5) 0x20 = 0x34
// | Priority 0x1f << 11 = 0xf800 | IAFFID 0x1234 << 32 = 0x0000123400000000.
constexpr uint64_t kPendingActiveLevelIcsr = 0x000012340000f834u;

TEST(IccIcsr, GoldenValue) {
  IccIcsr icsr;
  icsr.set_pending(1).set_active(1).set_hm(1).set_priority(0x1f).set_iaffid(0x1234);
  EXPECT_EQ(icsr.raw(), kPendingActiveLevelIcsr);
  EXPECT_FALSE(icsr.has_reserved_bits_set());
}

TEST(IccIcsr, RoundTripAndFormat) {
  const IccIcsr icsr = IccIcsr::FromRaw(kPendingActiveLevelIcsr);
  EXPECT_EQ(icsr.f(), 0u);
  EXPECT_EQ(icsr.enabled(), 0u);
  EXPECT_EQ(icsr.pending(), 1u);
  EXPECT_EQ(icsr.irm(), 0u);
  EXPECT_EQ(icsr.active(), 1u);
  EXPECT_EQ(icsr.hm(), 1u);
  EXPECT_EQ(icsr.priority(), 0x1fu);
  EXPECT_EQ(icsr.iaffid(), 0x1234u);
  IccIcsr copy;
  copy.set_f(icsr.f()).set_enabled(icsr.enabled()).set_pending(icsr.pending());
  copy.set_irm(icsr.irm()).set_active(icsr.active()).set_hm(icsr.hm());
  copy.set_priority(icsr.priority()).set_iaffid(icsr.iaffid());
  EXPECT_EQ(copy, icsr);
  EXPECT_EQ(fmt::format("{}", icsr),
            "IccIcsr{f=0 enabled=0 pending=1 irm=0 active=1 hm=1 priority=0x1f iaffid=0x1234}");
}

TEST(IccIcsr, BitNumbers) {
  EXPECT_EQ(IccIcsr().set_f(1).raw(), Bit(0));
  EXPECT_EQ(IccIcsr().set_enabled(1).raw(), Bit(1));
  EXPECT_EQ(IccIcsr().set_pending(1).raw(), Bit(2));
  EXPECT_EQ(IccIcsr().set_irm(1).raw(), Bit(3));
  EXPECT_EQ(IccIcsr().set_active(1).raw(), Bit(4));
  EXPECT_EQ(IccIcsr().set_hm(1).raw(), Bit(5));
  EXPECT_EQ(IccIcsr().set_priority(0x1f).raw(), 0xf800u);              // 15:11
  EXPECT_EQ(IccIcsr().set_iaffid(0xffff).raw(), 0x0000ffff00000000u);  // 47:32
}

TEST(IccIcsr, ReservedBits) {
  // RES0: 10:6, 31:16, 63:48.
  for (int b : {6, 10, 16, 31, 48, 63}) {
    EXPECT_TRUE(IccIcsr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  for (int b : {0, 5, 11, 15, 32, 47}) {
    EXPECT_FALSE(IccIcsr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  // ~(0x3f | 0xf800 | 0xffff << 32) = 0xffff0000ffff07c0.
  EXPECT_EQ(IccIcsr::ReservedMask(0), 0xffff0000ffff07c0u);
  // Bit 48 is bit 0 of the RES0 range 63:48.
  EXPECT_EQ(fmt::format("{}", IccIcsr::FromRaw(kPendingActiveLevelIcsr | Bit(48))),
            "IccIcsr{f=0 enabled=0 pending=1 irm=0 active=1 hm=1 priority=0x1f iaffid=0x1234 "
            "rsvd[63:48]=0x1!}");
}

// --- GIC VDPEND / VDRCFG operands (gic.md §4.2, armreg GIC_VDPEND_*) ---

// SPI 37 of VM 5, set pending: PENDING (bit 63) 0x8000000000000000 | VM 5 << 32
// 0x0000000500000000 | TYPE 3 << 29 0x60000000 | ID 0x25.
constexpr uint64_t kVdpendSpi37Vm5 = 0x8000000560000025u;
// The same SPI queried with VDRCFG: no PENDING bit.
constexpr uint64_t kVdrcfgSpi37Vm5 = 0x0000000560000025u;

TEST(GicVdpendOperand, GoldenValue) {
  GicVdpendOperand op;
  op.set_id(37).set_type(kSpi).set_vm(5).set_pending(1);
  EXPECT_EQ(op.raw(), kVdpendSpi37Vm5);
  EXPECT_FALSE(op.has_reserved_bits_set());
  // Clearing the pending state only drops bit 63.
  op.set_pending(0);
  EXPECT_EQ(op.raw(), 0x0000000560000025u);
}

TEST(GicVdpendOperand, RoundTripAndFormat) {
  const GicVdpendOperand op = GicVdpendOperand::FromRaw(kVdpendSpi37Vm5);
  EXPECT_EQ(op.id(), 37u);
  EXPECT_EQ(op.type(), kSpi);
  EXPECT_EQ(op.vm(), 5u);
  EXPECT_EQ(op.pending(), 1u);
  GicVdpendOperand copy;
  copy.set_id(op.id()).set_type(op.type()).set_vm(op.vm()).set_pending(op.pending());
  EXPECT_EQ(copy, op);
  EXPECT_EQ(fmt::format("{}", op), "GicVdpendOperand{id=0x25 type=0x3 vm=0x5 pending=1}");
}

TEST(GicVdpendOperand, BitsAndReserved) {
  EXPECT_EQ(GicVdpendOperand().set_id(kGicv5MaxId).raw(), 0x0000000000ffffffu);  // 23:0
  EXPECT_EQ(GicVdpendOperand().set_type(7).raw(), 0x00000000e0000000u);          // 31:29
  EXPECT_EQ(GicVdpendOperand().set_vm(0xffff).raw(), 0x0000ffff00000000u);       // 47:32
  EXPECT_EQ(GicVdpendOperand().set_pending(1).raw(), Bit(63));
  // RES0: 28:24, 62:48.
  for (int b : {24, 28, 48, 55, 62}) {
    EXPECT_TRUE(GicVdpendOperand::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_FALSE(GicVdpendOperand::FromRaw(Bit(63)).has_reserved_bits_set());
  EXPECT_EQ(GicVdpendOperand::ReservedMask(0), 0x7fff00001f000000u);
}

TEST(GicVdrcfgOperand, GoldenValueAndFormat) {
  GicVdrcfgOperand op;
  op.set_id(37).set_type(kSpi).set_vm(5);
  EXPECT_EQ(op.raw(), kVdrcfgSpi37Vm5);
  EXPECT_FALSE(op.has_reserved_bits_set());
  EXPECT_EQ(kVdrcfgSpi37Vm5, kVdpendSpi37Vm5 & ~Bit(63));  // the shared VM/TYPE/ID layout
  const GicVdrcfgOperand back = GicVdrcfgOperand::FromRaw(kVdrcfgSpi37Vm5);
  EXPECT_EQ(back.id(), 37u);
  EXPECT_EQ(back.type(), kSpi);
  EXPECT_EQ(back.vm(), 5u);
  EXPECT_EQ(fmt::format("{}", back), "GicVdrcfgOperand{id=0x25 type=0x3 vm=0x5}");
  // VDRCFG has no PENDING bit: a VDPEND operand read through it flags bit 63, which is bit 15
  // of the RES0 range 63:48 -> 0x8000.
  const GicVdrcfgOperand wrong = GicVdrcfgOperand::FromRaw(kVdpendSpi37Vm5);
  EXPECT_TRUE(wrong.has_reserved_bits_set());
  EXPECT_EQ(wrong.reserved_bits_set(0), Bit(63));
  EXPECT_EQ(fmt::format("{}", wrong),
            "GicVdrcfgOperand{id=0x25 type=0x3 vm=0x5 rsvd[63:48]=0x8000!}");
}

// --- ICC_HPPIR_EL1 (gic.md §4.3) ---

TEST(IccHppir, GoldenValueAndFormat) {
  IccHppir h;
  h.set_id(37).set_type(kSpi).set_hppiv(1);
  // HPPIV (bit 32) 0x0000000100000000 | TYPE 3 << 29 0x60000000 | ID 0x25.
  EXPECT_EQ(h.raw(), 0x0000000160000025u);
  EXPECT_FALSE(h.has_reserved_bits_set());
  const IccHppir back = IccHppir::FromRaw(0x0000000160000025u);
  EXPECT_EQ(back, h);
  EXPECT_EQ(back.id(), 37u);
  EXPECT_EQ(back.type(), kSpi);
  EXPECT_EQ(back.hppiv(), 1u);
  EXPECT_EQ(fmt::format("{}", back), "IccHppir{id=0x25 type=0x3 hppiv=1}");
  // PPI 30 pending: bit 32 | TYPE 1 << 29 | 0x1e.
  EXPECT_EQ(IccHppir().set_id(30).set_type(kPpi).set_hppiv(1).raw(), 0x000000012000001eu);
  // The ID/TYPE half is the INTID format.
  EXPECT_EQ(static_cast<uint32_t>(back.raw()), kSpi37);
}

TEST(IccHppir, ReservedBits) {
  // RES0: 28:24, 63:33.
  for (int b : {24, 28, 33, 40, 63}) {
    EXPECT_TRUE(IccHppir::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  for (int b : {0, 23, 29, 31, 32}) {
    EXPECT_FALSE(IccHppir::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_EQ(IccHppir::ReservedMask(0), 0xfffffffe1f000000u);
}

// --- ICH_CONTEXTR_EL2 (gic.md §4.3) ---

// V (bit 63) 0x8000000000000000 | DB (bit 60) 0x1000000000000000 | DBPM 0x10 << 55 (bit 59)
// 0x0800000000000000 | VPE 3 << 32 0x0000000300000000 | VM 5.
constexpr uint64_t kValidContextWithDoorbell = 0x9800000300000005u;

TEST(IchContextr, GoldenValue) {
  IchContextr c;
  c.set_v(1).set_db(1).set_dbpm(0x10).set_vpe(3).set_vm(5);
  EXPECT_EQ(c.raw(), kValidContextWithDoorbell);
  EXPECT_FALSE(c.has_reserved_bits_set());
}

TEST(IchContextr, RoundTripAndFormat) {
  const IchContextr c = IchContextr::FromRaw(kValidContextWithDoorbell);
  EXPECT_EQ(c.vm(), 5u);
  EXPECT_EQ(c.vpe(), 3u);
  EXPECT_EQ(c.dbpm(), 0x10u);
  EXPECT_EQ(c.db(), 1u);
  EXPECT_EQ(c.irichppidis(), 0u);
  EXPECT_EQ(c.f(), 0u);
  EXPECT_EQ(c.v(), 1u);
  IchContextr copy;
  copy.set_vm(c.vm()).set_vpe(c.vpe()).set_dbpm(c.dbpm()).set_db(c.db());
  copy.set_irichppidis(c.irichppidis()).set_f(c.f()).set_v(c.v());
  EXPECT_EQ(copy, c);
  EXPECT_EQ(fmt::format("{}", c),
            "IchContextr{vm=0x5 vpe=0x3 dbpm=0x10 db=1 irichppidis=0 f=0 v=1}");
}

TEST(IchContextr, BitNumbers) {
  EXPECT_EQ(IchContextr().set_vm(0xffff).raw(), 0xffffu);               // 15:0
  EXPECT_EQ(IchContextr().set_vpe(0xffff).raw(), 0x0000ffff00000000u);  // 47:32
  EXPECT_EQ(IchContextr().set_dbpm(0x1f).raw(), 0x0f80000000000000u);   // 59:55
  EXPECT_EQ(IchContextr().set_db(1).raw(), Bit(60));
  EXPECT_EQ(IchContextr().set_irichppidis(1).raw(), Bit(61));
  EXPECT_EQ(IchContextr().set_f(1).raw(), Bit(62));
  EXPECT_EQ(IchContextr().set_v(1).raw(), Bit(63));
}

TEST(IchContextr, ReservedBits) {
  // RES0: 31:16, 54:48.
  for (int b : {16, 31, 48, 54}) {
    EXPECT_TRUE(IchContextr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  for (int b : {15, 32, 47, 55, 63}) {
    EXPECT_FALSE(IchContextr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_EQ(IchContextr::ReservedMask(0), 0x007f0000ffff0000u);
  // Bit 54 is bit 6 of the RES0 range 54:48 -> 0x40.
  EXPECT_EQ(fmt::format("{}", IchContextr::FromRaw(kValidContextWithDoorbell | Bit(54))),
            "IchContextr{vm=0x5 vpe=0x3 rsvd[54:48]=0x40! dbpm=0x10 db=1 irichppidis=0 f=0 v=1}");
}

// --- ICH_VMCR_EL2, GICv5 (FEAT_GCIE) view (gic.md §4.3) ---

TEST(IchVmcrV5, GoldenValueAndFormat) {
  IchVmcrV5 v;
  v.set_vpmr(0x18).set_en(1);
  // VPMR 0x18 << 27 = 0xc0000000 | EN bit 0 -> 0xc0000001.
  EXPECT_EQ(v.raw(), 0xc0000001u);
  EXPECT_FALSE(v.has_reserved_bits_set());
  const IchVmcrV5 back = IchVmcrV5::FromRaw(0xc0000001u);
  EXPECT_EQ(back, v);
  EXPECT_EQ(back.vpmr(), 0x18u);
  EXPECT_EQ(back.en(), 1u);
  EXPECT_EQ(fmt::format("{}", back), "IchVmcrV5{en=1 vpmr=0x18}");
  EXPECT_EQ(IchVmcrV5().set_vpmr(0x1f).raw(), 0xf8000000u);  // 31:27
}

TEST(IchVmcrV5, ReservedBitsAndTheGicv3View) {
  // RES0: 26:1, 63:32.
  for (int b : {1, 9, 24, 26, 32, 63}) {
    EXPECT_TRUE(IchVmcrV5::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  for (int b : {0, 27, 31}) {
    EXPECT_FALSE(IchVmcrV5::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  EXPECT_EQ(IchVmcrV5::ReservedMask(0), 0xffffffff07fffffeu);
  // A GICv3 VMCR (VPMR 0xf0, VBPR0 2, VBPR1 3, VEOIM, VFIQEn, VENG1 = 0xf04c020a) read through
  // the GICv5 view: 31:27 = 0xf0 >> 3 = 0x1e; EN (bit 0) = 0; bits 26:1 = 0x004c020a >> 1
  // = 0x260105, all RES0 here.
  EXPECT_EQ(fmt::format("{}", IchVmcrV5::FromRaw(0xf04c020au)),
            "IchVmcrV5{en=0 rsvd[26:1]=0x260105! vpmr=0x1e}");
}

// --- ICH_PPI_PRIORITYR<n>_EL2 and the PPI helpers (gic.md §4.3) ---

TEST(IchPpiPriorityr, FieldsAndReservedBits) {
  EXPECT_EQ(IchPpiPriorityr().set_priority0(0x1f).raw(), 0x000000000000001fu);
  EXPECT_EQ(IchPpiPriorityr().set_priority1(0x1f).raw(), 0x0000000000001f00u);
  EXPECT_EQ(IchPpiPriorityr().set_priority2(0x1f).raw(), 0x00000000001f0000u);
  EXPECT_EQ(IchPpiPriorityr().set_priority3(0x1f).raw(), 0x000000001f000000u);
  EXPECT_EQ(IchPpiPriorityr().set_priority4(0x1f).raw(), 0x0000001f00000000u);
  EXPECT_EQ(IchPpiPriorityr().set_priority5(0x1f).raw(), 0x00001f0000000000u);
  EXPECT_EQ(IchPpiPriorityr().set_priority6(0x1f).raw(), 0x001f000000000000u);
  EXPECT_EQ(IchPpiPriorityr().set_priority7(0x1f).raw(), 0x1f00000000000000u);
  // Bits [8k+7 : 8k+5] of each byte are RES0.
  EXPECT_EQ(IchPpiPriorityr::ReservedMask(0), 0xe0e0e0e0e0e0e0e0u);
  EXPECT_FALSE(IchPpiPriorityr::FromRaw(0x1f1f1f1f1f1f1f1fu).has_reserved_bits_set());
  for (int b : {5, 7, 13, 31, 53, 61, 63}) {
    EXPECT_TRUE(IchPpiPriorityr::FromRaw(Bit(b)).has_reserved_bits_set()) << "bit " << b;
  }
  // Priority 0x10 for PPI 8n and 0x1f for PPI 8n+6: 0x10 | 0x1f << 48.
  EXPECT_EQ(fmt::format("{}", IchPpiPriorityr::FromRaw(0x001f000000000010u)),
            "IchPpiPriorityr{priority0=0x10 priority1=0x0 priority2=0x0 priority3=0x0 "
            "priority4=0x0 priority5=0x0 priority6=0x1f priority7=0x0}");
}

TEST(PpiHelpers, RegisterIndexAndPosition) {
  EXPECT_EQ(kGicv5NumPpis, 128);
  EXPECT_EQ(kIchPpiBitmapRegisters, 2);
  EXPECT_EQ(kIchPpiPriorityRegisters, 16);
  // PENDR/ACTIVER: PPI p is bit p%64 of register p/64.
  EXPECT_EQ(IchPpiBitmapIndex(0), 0);
  EXPECT_EQ(IchPpiBitmapIndex(63), 0);
  EXPECT_EQ(IchPpiBitmapIndex(64), 1);
  EXPECT_EQ(IchPpiBitmapIndex(127), 1);
  EXPECT_EQ(IchPpiBitmapBit(30), 0x0000000040000000u);
  EXPECT_EQ(IchPpiBitmapBit(64), 0x0000000000000001u);
  EXPECT_EQ(IchPpiBitmapBit(127), 0x8000000000000000u);
  // PRIORITYR: PPI p is field p%8 (shift 8*(p%8)) of register p/8.
  EXPECT_EQ(IchPpiPriorityrIndex(0), 0);
  EXPECT_EQ(IchPpiPriorityrIndex(7), 0);
  EXPECT_EQ(IchPpiPriorityrIndex(8), 1);
  EXPECT_EQ(IchPpiPriorityrIndex(30), 3);
  EXPECT_EQ(IchPpiPriorityrIndex(127), 15);
  EXPECT_EQ(IchPpiPriorityShift(3), 24);
  EXPECT_EQ(IchPpiPriorityShift(8), 0);
  EXPECT_EQ(IchPpiPriorityShift(30), 48);
  EXPECT_EQ(IchPpiPriorityShift(127), 56);
}

TEST(PpiHelpers, SetAndGetPriority) {
  // PPI 30 -> register 3, field 6 (bits 52:48): 0x1f << 48.
  EXPECT_EQ(SetPpiPriority(0, 30, 0x1f), 0x001f000000000000u);
  EXPECT_EQ(SetPpiPriority(0, 30, 0x1f), IchPpiPriorityr().set_priority6(0x1f).raw());
  // PPI 3 (register 0, field 3, bits 28:24) priority 0x10: 0x10 << 24.
  EXPECT_EQ(SetPpiPriority(0, 3, 0x10), 0x0000000010000000u);
  // PPI 127 -> register 15, field 7 (bits 60:56).
  EXPECT_EQ(SetPpiPriority(0, 127, 0x1f), 0x1f00000000000000u);
  // Only the PPI's own field changes: PPI 9 (register 1, field 1, bits 12:8) to 0 in an
  // all-0x1f register.
  EXPECT_EQ(SetPpiPriority(0x1f1f1f1f1f1f1f1fu, 9, 0), 0x1f1f1f1f1f1f001fu);
  // RES0 bits are carried through untouched.
  EXPECT_EQ(SetPpiPriority(0xe0e0e0e0e0e0e0e0u, 0, 0x1f), 0xe0e0e0e0e0e0e0ffu);
  EXPECT_EQ(GetPpiPriority(0x001f000000000000u, 30), 0x1f);
  EXPECT_EQ(GetPpiPriority(0x001f000000000000u, 29), 0);  // field 5 of the same register
  EXPECT_EQ(GetPpiPriority(0x0000000010000000u, 3), 0x10);
  EXPECT_EQ(GetPpiPriority(0xffu, 0), 0x1f);  // RES0 bits 7:5 are not part of the priority
  EXPECT_EQ(GetPpiPriority(0x1f00000000000000u, 127), 0x1f);
}

TEST(PpiHelpers, AllPpisRoundTrip) {
  std::array<uint64_t, kIchPpiPriorityRegisters> regs{};
  for (int p = 0; p < kGicv5NumPpis; ++p) {
    uint64_t& r = regs[IchPpiPriorityrIndex(p)];
    r = SetPpiPriority(r, p, static_cast<uint64_t>(p % 32));
  }
  for (int p = 0; p < kGicv5NumPpis; ++p) {
    EXPECT_EQ(GetPpiPriority(regs[IchPpiPriorityrIndex(p)], p), p % 32) << "PPI " << p;
  }
  for (uint64_t r : regs) EXPECT_FALSE(IchPpiPriorityr::FromRaw(r).has_reserved_bits_set());
  // Register 0 holds PPIs 0..7 with priorities 0..7: byte k = k -> 0x0706050403020100.
  EXPECT_EQ(regs[0], 0x0706050403020100u);
  // Register 15 holds PPIs 120..127: 120 % 32 = 24 (0x18) .. 127 % 32 = 31 (0x1f).
  EXPECT_EQ(regs[15], 0x1f1e1d1c1b1a1918u);
}

TEST(PpiHelpersDeathTest, WidePriorityIsCaughtInDebug) {
#ifdef NDEBUG
  GTEST_SKIP() << "the debug check is compiled out with NDEBUG; release builds truncate";
#else
  EXPECT_DEATH(SetPpiPriority(0, 0, 0x20), "IchPpiPriorityr.priority: value 0x20 does not fit");
#endif
}

// --- Encodings ---

using testing::ExpectEncoding;

TEST(Gicv5Encodings, Tuples) {
  ExpectEncoding(kGicVdpend, 1, 4, 12, 1, 4);
  ExpectEncoding(kGicVdrcfg, 1, 4, 12, 1, 5);
  ExpectEncoding(kIccHppirEl1, 3, 0, 12, 10, 3);
  ExpectEncoding(kIccIcsrEl1, 3, 0, 12, 10, 4);
  ExpectEncoding(kIchContextrEl2, 3, 4, 12, 11, 6);
  ExpectEncoding(kIchVmcrV5El2, 3, 4, 12, 11, 7);
  ExpectEncoding(IchPpiPendrEl2(0), 3, 4, 12, 10, 4);
  ExpectEncoding(IchPpiPendrEl2(1), 3, 4, 12, 10, 5);
  ExpectEncoding(IchPpiActiverEl2(0), 3, 4, 12, 10, 6);
  ExpectEncoding(IchPpiActiverEl2(1), 3, 4, 12, 10, 7);
  ExpectEncoding(IchPpiPriorityrEl2(0), 3, 4, 12, 14, 0);
  ExpectEncoding(IchPpiPriorityrEl2(4), 3, 4, 12, 14, 4);
  ExpectEncoding(IchPpiPriorityrEl2(7), 3, 4, 12, 14, 7);
  ExpectEncoding(IchPpiPriorityrEl2(8), 3, 4, 12, 15, 0);
  ExpectEncoding(IchPpiPriorityrEl2(15), 3, 4, 12, 15, 7);
  // The FEAT_GCIE view of ICH_VMCR_EL2 is the GICv3 register's encoding.
  EXPECT_TRUE(kIchVmcrV5El2 == kIchVmcrEl2);
  EXPECT_FALSE(kIchContextrEl2 == kIchVmcrEl2);
}

TEST(Gicv5Encodings, Keys) {
  // key = op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2.
  // ICC_*: 3 << 14 = 0xc000 | 12 << 7 = 0x600 | 10 << 3 = 0x50 -> 0xc650 + op2.
  EXPECT_EQ(kIccHppirEl1.key(), 0xc653u);
  EXPECT_EQ(kIccIcsrEl1.key(), 0xc654u);
  // ICH_*: 0xc000 | 4 << 11 = 0x2000 | 0x600 = 0xe600; CRm 11 -> 0xe658 + op2.
  EXPECT_EQ(kIchContextrEl2.key(), 0xe65eu);
  EXPECT_EQ(kIchVmcrV5El2.key(), 0xe65fu);
  // CRm 10 -> 0xe650 + op2.
  EXPECT_EQ(IchPpiPendrEl2(0).key(), 0xe654u);
  EXPECT_EQ(IchPpiPendrEl2(1).key(), 0xe655u);
  EXPECT_EQ(IchPpiActiverEl2(0).key(), 0xe656u);
  EXPECT_EQ(IchPpiActiverEl2(1).key(), 0xe657u);
  // CRm 14 -> 0xe670, CRm 15 -> 0xe678: the 16 PRIORITYRs are the contiguous keys 0xe670..0xe67f.
  for (int n = 0; n < kIchPpiPriorityRegisters; ++n) {
    EXPECT_EQ(IchPpiPriorityrEl2(n).key(), 0xe670u + static_cast<uint32_t>(n)) << "R" << n;
  }
  // GIC VD*: 1 << 14 = 0x4000 | 0x2000 | 0x600 | 1 << 3 = 0x8 -> 0x6608 + op2.
  EXPECT_EQ(kGicVdpend.key(), 0x660cu);
  EXPECT_EQ(kGicVdrcfg.key(), 0x660du);
}

TEST(Gicv5Encodings, InstructionWords) {
  // MRS Xt, <sysreg> = 0xd5200000 | key << 5 | Rt; SYS = 0xd5000000 | key << 5 | Rt (x0).
  EXPECT_EQ(0xd5200000u | kIccHppirEl1.key() << 5, 0xd538ca60u);
  EXPECT_EQ(0xd5200000u | kIccIcsrEl1.key() << 5, 0xd538ca80u);
  EXPECT_EQ(0xd5200000u | kIchContextrEl2.key() << 5, 0xd53ccbc0u);
  EXPECT_EQ(0xd5200000u | kIchVmcrV5El2.key() << 5, 0xd53ccbe0u);
  EXPECT_EQ(0xd5200000u | IchPpiPendrEl2(0).key() << 5, 0xd53cca80u);
  EXPECT_EQ(0xd5200000u | IchPpiActiverEl2(1).key() << 5, 0xd53ccae0u);
  EXPECT_EQ(0xd5200000u | IchPpiPriorityrEl2(0).key() << 5, 0xd53cce00u);
  EXPECT_EQ(0xd5200000u | IchPpiPriorityrEl2(15).key() << 5, 0xd53ccfe0u);
  EXPECT_EQ(0xd5000000u | kGicVdpend.key() << 5, 0xd50cc180u);
  EXPECT_EQ(0xd5000000u | kGicVdrcfg.key() << 5, 0xd50cc1a0u);
}

}  // namespace
}  // namespace hw::arm
