// SPDX-License-Identifier: MIT
// GICv3 virtualization control registers (ICH_*_EL2) and their system-register encodings.
// Sources: Arm GIC architecture specification IHI 0069 §12.4 (ICH_* register descriptions);
// Linux arch/arm64/tools/sysreg (ICH_HCR_EL2, ICH_VTR_EL2, ICH_MISR_EL2, ICH_VMCR_EL2) and
// arch/arm64/include/asm/sysreg.h (ICH_LR_* and the encodings), as collected in
// shared/reference/gic.md §1.
#ifndef IRQVIRT_HW_ARM_GICV3_REGS_H_
#define IRQVIRT_HW_ARM_GICV3_REGS_H_

#include <cstdint>

#include "hw/arm/sysreg.h"
#include "hw/reg/register.h"

namespace hw::arm {

// --- Encodings (IHI 0069 §12.4; Linux asm/sysreg.h SYS_ICH_*) ---
inline constexpr SysRegEncoding kIchHcrEl2{3, 4, 12, 11, 0};
inline constexpr SysRegEncoding kIchVtrEl2{3, 4, 12, 11, 1};
inline constexpr SysRegEncoding kIchMisrEl2{3, 4, 12, 11, 2};
inline constexpr SysRegEncoding kIchEisrEl2{3, 4, 12, 11, 3};
inline constexpr SysRegEncoding kIchElrsrEl2{3, 4, 12, 11, 5};
inline constexpr SysRegEncoding kIchVmcrEl2{3, 4, 12, 11, 7};
// ICH_AP0R<n>_EL2 = 3,4,12,8,n and ICH_AP1R<n>_EL2 = 3,4,12,9,n, n = 0..3.
constexpr SysRegEncoding IchAp0rEl2(int n) { return {3, 4, 12, 8, static_cast<uint8_t>(n)}; }
constexpr SysRegEncoding IchAp1rEl2(int n) { return {3, 4, 12, 9, static_cast<uint8_t>(n)}; }
// ICH_LR<n>_EL2: n = 0..7 at 3,4,12,12,n; n = 8..15 at 3,4,12,13,n-8.
constexpr SysRegEncoding IchLrEl2(int n) {
  return {3, 4, 12, static_cast<uint8_t>(12 + n / 8), static_cast<uint8_t>(n % 8)};
}
inline constexpr int kMaxListRegisters = 16;  // ListRegs is read as 4 bits (gic.md §1.1)
inline constexpr int kMaxAprRegisters = 4;

// LR State field values (IHI 0069 §12.4.9, ICH_LR<n>_EL2.State).
enum class LrState : uint8_t { kInvalid = 0, kPending = 1, kActive = 2, kPendingActive = 3 };

// ICH_LR<n>_EL2 with HW = 0: a purely virtual interrupt; EOI asks for a maintenance interrupt
// when the guest deactivates it.
class IchLrVirtual : public reg::Register<IchLrVirtual, 64> {
 public:
  IRQVIRT_REGISTER("IchLrVirtual");
  IRQVIRT_FIELD(31, 0, vintid);    // vINTID. IHI 0069 §12.4.9
  IRQVIRT_RESERVED(40, 32);        // pINTID[8:0] is RES0 when HW = 0
  IRQVIRT_FIELD(41, 41, eoi);      // EOI: maintenance interrupt on deactivation (HW = 0 only)
  IRQVIRT_RESERVED(47, 42);
  IRQVIRT_FIELD(55, 48, priority);  // Priority, the full 8-bit value
  IRQVIRT_RESERVED(58, 56);
  IRQVIRT_FIELD(59, 59, nmi);      // NMI (FEAT_GICv3_NMI)
  IRQVIRT_FIELD(60, 60, group);    // Group: 1 = Group 1
  IRQVIRT_FIELD(61, 61, hw);       // HW = 0 in this view
  IRQVIRT_FIELD(63, 62, state);    // State (LrState)
};

// ICH_LR<n>_EL2 with HW = 1: guest deactivation also deactivates physical INTID pINTID.
class IchLrHardware : public reg::Register<IchLrHardware, 64> {
 public:
  IRQVIRT_REGISTER("IchLrHardware");
  IRQVIRT_FIELD(31, 0, vintid);    // vINTID. IHI 0069 §12.4.9
  IRQVIRT_FIELD(44, 32, pintid);   // pINTID, 13 bits (Linux masks only 41:32, gic.md §1.2)
  IRQVIRT_RESERVED(47, 45);
  IRQVIRT_FIELD(55, 48, priority);
  IRQVIRT_RESERVED(58, 56);
  IRQVIRT_FIELD(59, 59, nmi);
  IRQVIRT_FIELD(60, 60, group);
  IRQVIRT_FIELD(61, 61, hw);       // HW = 1 in this view
  IRQVIRT_FIELD(63, 62, state);
};

// Bits shared by both views, for code that only needs state, HW and the vINTID.
inline constexpr uint64_t kIchLrHwBit = uint64_t{1} << 61;
inline constexpr uint64_t kIchLrEoiBit = uint64_t{1} << 41;
inline constexpr uint64_t kIchLrPendingBit = uint64_t{1} << 62;
inline constexpr uint64_t kIchLrActiveBit = uint64_t{1} << 63;
constexpr bool IchLrIsHw(uint64_t lr) { return (lr & kIchLrHwBit) != 0; }
constexpr LrState IchLrStateOf(uint64_t lr) { return static_cast<LrState>(lr >> 62); }
constexpr uint32_t IchLrVintid(uint64_t lr) { return static_cast<uint32_t>(lr); }
// An invalid LR that still asks for its EOI maintenance interrupt (EISR bit; gic.md §1.6).
constexpr bool IchLrSignalsEoi(uint64_t lr) {
  return IchLrStateOf(lr) == LrState::kInvalid && !IchLrIsHw(lr) && (lr & kIchLrEoiBit) != 0;
}

class IchHcr : public reg::Register<IchHcr, 64> {
 public:
  IRQVIRT_REGISTER("IchHcr");
  IRQVIRT_FIELD(0, 0, en);            // En. IHI 0069 §12.4.4 / Linux sysreg ICH_HCR_EL2
  IRQVIRT_FIELD(1, 1, uie);           // UIE: underflow MI (at most one valid LR)
  IRQVIRT_FIELD(2, 2, lrenpie);       // LRENPIE: MI while EOIcount != 0
  IRQVIRT_FIELD(3, 3, npie);          // NPIE: MI while no LR is Pending
  IRQVIRT_FIELD(4, 4, vgrp0eie);      // VGrp0EIE
  IRQVIRT_FIELD(5, 5, vgrp0die);      // VGrp0DIE
  IRQVIRT_FIELD(6, 6, vgrp1eie);      // VGrp1EIE
  IRQVIRT_FIELD(7, 7, vgrp1die);      // VGrp1DIE
  IRQVIRT_FIELD(8, 8, vsgieoicount);  // vSGIEOICount (FEAT_GICv4p1)
  IRQVIRT_RESERVED(9, 9);
  IRQVIRT_FIELD(10, 10, tc);          // TC: trap common ICV_* accesses
  IRQVIRT_FIELD(11, 11, tall0);       // TALL0
  IRQVIRT_FIELD(12, 12, tall1);       // TALL1
  IRQVIRT_FIELD(13, 13, tsei);        // TSEI
  IRQVIRT_FIELD(14, 14, tdir);        // TDIR (FEAT_GICv3_TDIR): trap ICV_DIR_EL1
  IRQVIRT_FIELD(15, 15, dvim);        // DVIM
  IRQVIRT_RESERVED(26, 16);
  IRQVIRT_FIELD(31, 27, eoicount);    // EOIcount
  IRQVIRT_RESERVED(63, 32);
};

// 1, 2 or 4 APRs per group for 5, 6 or 7 preemption bits (gic.md §1.4).
constexpr int AprRegistersPerGroup(int preemption_bits) {
  return preemption_bits <= 5 ? 1 : (preemption_bits == 6 ? 2 : 4);
}

class IchVtr : public reg::Register<IchVtr, 64> {
 public:
  IRQVIRT_REGISTER("IchVtr");
  IRQVIRT_FIELD(4, 0, list_regs);  // ListRegs: number of LRs - 1. IHI 0069 §12.4.12
  IRQVIRT_RESERVED(17, 5);
  IRQVIRT_FIELD(18, 18, dvim);     // DVIM supported
  IRQVIRT_FIELD(19, 19, tds);      // TDS: ICH_HCR_EL2.TDIR supported
  IRQVIRT_FIELD(20, 20, nv4);      // nV4: direct injection NOT supported
  IRQVIRT_FIELD(21, 21, a3v);      // A3V
  IRQVIRT_FIELD(22, 22, seis);     // SEIS
  IRQVIRT_FIELD(25, 23, id_bits);  // IDbits: 0 = 16-bit, 1 = 24-bit
  IRQVIRT_FIELD(28, 26, pre_bits);  // PREbits: preemption bits - 1
  IRQVIRT_FIELD(31, 29, pri_bits);  // PRIbits: priority bits - 1
  IRQVIRT_RESERVED(63, 32);

  // KVM masks ListRegs with 0xf: there are at most 16 LRs (gic.md §1.1).
  constexpr int num_list_registers() const { return static_cast<int>(list_regs() & 0xf) + 1; }
  constexpr int num_apr_registers() const {
    return AprRegistersPerGroup(static_cast<int>(pre_bits()) + 1);
  }
};

class IchMisr : public reg::Register<IchMisr, 64> {
 public:
  IRQVIRT_REGISTER("IchMisr");
  IRQVIRT_FIELD(0, 0, eoi);        // EOI: some EISR bit is set. IHI 0069 §12.4.8
  IRQVIRT_FIELD(1, 1, u);          // U: underflow
  IRQVIRT_FIELD(2, 2, lrenp);      // LRENP: LRENPIE and EOIcount != 0
  IRQVIRT_FIELD(3, 3, np);         // NP: NPIE and no LR Pending
  IRQVIRT_FIELD(4, 4, vgrp0e);     // VGrp0E
  IRQVIRT_FIELD(5, 5, vgrp0d);     // VGrp0D
  IRQVIRT_FIELD(6, 6, vgrp1e);     // VGrp1E
  IRQVIRT_FIELD(7, 7, vgrp1d);     // VGrp1D
  IRQVIRT_RESERVED(63, 8);
};

// ICH_EISR_EL2 and ICH_ELRSR_EL2: one status bit per LR (IHI 0069 §12.4.5, §12.4.6).
class IchLrBitmap : public reg::Register<IchLrBitmap, 64> {
 public:
  IRQVIRT_REGISTER("IchLrBitmap");
  IRQVIRT_FIELD(15, 0, status);
  IRQVIRT_RESERVED(63, 16);
};

class IchVmcr : public reg::Register<IchVmcr, 64> {
 public:
  IRQVIRT_REGISTER("IchVmcr");
  IRQVIRT_FIELD(0, 0, veng0);    // VENG0: virtual Group 0 enable. IHI 0069 §12.4.13
  IRQVIRT_FIELD(1, 1, veng1);    // VENG1
  IRQVIRT_FIELD(2, 2, vackctl);  // VAckCtl (RES0 for a GICv3 guest)
  IRQVIRT_FIELD(3, 3, vfiqen);   // VFIQEn (RES1 for a GICv3 guest)
  IRQVIRT_FIELD(4, 4, vcbpr);    // VCBPR
  IRQVIRT_RESERVED(8, 5);
  IRQVIRT_FIELD(9, 9, veoim);    // VEOIM: EOImode
  IRQVIRT_RESERVED(17, 10);
  IRQVIRT_FIELD(20, 18, vbpr1);  // VBPR1
  IRQVIRT_FIELD(23, 21, vbpr0);  // VBPR0
  IRQVIRT_FIELD(31, 24, vpmr);   // VPMR: priority mask, 8 bits
  IRQVIRT_RESERVED(63, 32);
};

// ICH_AP0R<n>_EL2 / ICH_AP1R<n>_EL2: active-priority bits (IHI 0069 §12.4.1, §12.4.2).
class IchApr : public reg::Register<IchApr, 64> {
 public:
  IRQVIRT_REGISTER("IchApr");
  IRQVIRT_FIELD(31, 0, active_priorities);
  IRQVIRT_RESERVED(63, 32);
};

static_assert(reg::LayoutIsComplete<IchLrVirtual>());
static_assert(reg::LayoutIsComplete<IchLrHardware>());
static_assert(reg::LayoutIsComplete<IchHcr>());
static_assert(reg::LayoutIsComplete<IchVtr>());
static_assert(reg::LayoutIsComplete<IchMisr>());
static_assert(reg::LayoutIsComplete<IchLrBitmap>());
static_assert(reg::LayoutIsComplete<IchVmcr>());
static_assert(reg::LayoutIsComplete<IchApr>());

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV3_REGS_H_
