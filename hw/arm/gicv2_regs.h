// SPDX-License-Identifier: MIT
// GICv2 virtual interface control registers (the GICH_* MMIO window) and the GICV window offset
// the hypervisor must trap. All registers are 32 bits wide and accessed as aligned words.
// Sources: Arm GIC architecture specification v2, IHI 0048B §5.3 (GIC virtual interface control
// registers) and §5.4 (GIC virtual CPU interface registers); Linux
// include/linux/irqchip/arm-gic.h (GICH_* defines), as collected in shared/reference/gic.md §2.
#ifndef IRQVIRT_HW_ARM_GICV2_REGS_H_
#define IRQVIRT_HW_ARM_GICV2_REGS_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::arm {

// --- GICH offsets (IHI 0048B §5.3, Table 5-1; Linux GICH_HCR .. GICH_LR0) ---
inline constexpr uint32_t kGichHcr = 0x000;
inline constexpr uint32_t kGichVtr = 0x004;
inline constexpr uint32_t kGichVmcr = 0x008;
inline constexpr uint32_t kGichMisr = 0x010;
inline constexpr uint32_t kGichEisr0 = 0x020;
inline constexpr uint32_t kGichEisr1 = 0x024;
inline constexpr uint32_t kGichElrsr0 = 0x030;
inline constexpr uint32_t kGichElrsr1 = 0x034;
inline constexpr uint32_t kGichApr = 0x0f0;
inline constexpr uint32_t kGichLr0 = 0x100;
inline constexpr int kGichMaxListRegisters = 64;  // ListRegs is 6 bits (IHI 0048B §5.3.2)
// GICH_LR<n> is at 0x100 + 4n, n = 0..63 (IHI 0048B §5.3.10).
constexpr uint32_t GichLrOffset(int n) { return kGichLr0 + 4 * static_cast<uint32_t>(n); }

// GICV_DIR sits alone in the GICV window's second 4 KiB page (IHI 0048B §5.4, Table 5-9; Linux
// GIC_CPU_DEACTIVATE), so the embedder can leave that page unmapped and make every DIR exit.
inline constexpr uint32_t kGicvDir = 0x1000;

// GICH_LR<n> with HW = 0: a virtual interrupt. For an SGI, CPUID names the source processor and
// is returned to the guest in GICV_IAR[12:10]; EOI asks for a maintenance interrupt when the
// guest deactivates it.
class GichLrVirtual : public reg::Register<GichLrVirtual, 32> {
 public:
  IRQVIRT_REGISTER("GichLrVirtual");
  IRQVIRT_FIELD(9, 0, virtual_id);  // VirtualID. IHI 0048B §5.3.10; Linux GICH_LR_VIRTUALID
  IRQVIRT_FIELD(12, 10, cpuid);     // CPUID: SGI source; Linux GICH_LR_PHYSID_CPUID_SHIFT 10
  IRQVIRT_RESERVED(18, 13);         // rest of PhysicalID[9:0], RES0 when HW = 0
  IRQVIRT_FIELD(19, 19, eoi);       // EOI: maintenance interrupt on deactivation; GICH_LR_EOI
  IRQVIRT_RESERVED(22, 20);
  IRQVIRT_FIELD(27, 23, priority);  // Priority[7:3]: the top 5 bits; GICH_LR_PRIORITY_SHIFT 23
  IRQVIRT_FIELD(29, 28, state);     // State (LrState); GICH_LR_PENDING_BIT 28, ACTIVE_BIT 29
  IRQVIRT_FIELD(30, 30, grp1);      // Grp1: Group 1; Linux GICH_LR_GROUP1
  IRQVIRT_FIELD(31, 31, hw);        // HW = 0 in this view; Linux GICH_LR_HW
};

// GICH_LR<n> with HW = 1: guest deactivation also deactivates physical interrupt PhysicalID.
class GichLrHardware : public reg::Register<GichLrHardware, 32> {
 public:
  IRQVIRT_REGISTER("GichLrHardware");
  IRQVIRT_FIELD(9, 0, virtual_id);     // VirtualID. IHI 0048B §5.3.10
  IRQVIRT_FIELD(19, 10, physical_id);  // PhysicalID; Linux GICH_LR_PHYSID_CPUID (0x3ff << 10)
  IRQVIRT_RESERVED(22, 20);
  IRQVIRT_FIELD(27, 23, priority);
  IRQVIRT_FIELD(29, 28, state);
  IRQVIRT_FIELD(30, 30, grp1);
  IRQVIRT_FIELD(31, 31, hw);  // HW = 1 in this view
};

class GichHcr : public reg::Register<GichHcr, 32> {
 public:
  IRQVIRT_REGISTER("GichHcr");
  IRQVIRT_FIELD(0, 0, en);        // En. IHI 0048B §5.3.1; Linux GICH_HCR_EN
  IRQVIRT_FIELD(1, 1, uie);       // UIE: underflow MI; GICH_HCR_UIE
  IRQVIRT_FIELD(2, 2, lrenpie);   // LRENPIE: MI while EOICount != 0; GICH_HCR_LRENPIE
  IRQVIRT_FIELD(3, 3, npie);      // NPIE: MI while no LR is Pending; GICH_HCR_NPIE
  IRQVIRT_FIELD(4, 4, vgrp0eie);  // VGrp0EIE; GICH_HCR_VGrp0EIE
  IRQVIRT_FIELD(5, 5, vgrp0die);  // VGrp0DIE; GICH_HCR_VGrp0DIE
  IRQVIRT_FIELD(6, 6, vgrp1eie);  // VGrp1EIE; GICH_HCR_VGrp1EIE
  IRQVIRT_FIELD(7, 7, vgrp1die);  // VGrp1DIE; GICH_HCR_VGrp1DIE
  IRQVIRT_RESERVED(26, 8);
  IRQVIRT_FIELD(31, 27, eoicount);  // EOICount; Linux GICH_HCR_EOICOUNT = GENMASK(31, 27)
};

class GichVtr : public reg::Register<GichVtr, 32> {
 public:
  IRQVIRT_REGISTER("GichVtr");
  IRQVIRT_FIELD(5, 0, list_regs);  // ListRegs: LRs - 1. IHI 0048B §5.3.2; KVM masks 0x3f
  IRQVIRT_RESERVED(25, 6);
  IRQVIRT_FIELD(28, 26, pre_bits);  // PREbits: preemption bits - 1 (not in Linux; gic.md §2.3)
  IRQVIRT_FIELD(31, 29, pri_bits);  // PRIbits: priority bits - 1

  constexpr int num_list_registers() const { return static_cast<int>(list_regs()) + 1; }
};

class GichVmcr : public reg::Register<GichVmcr, 32> {
 public:
  IRQVIRT_REGISTER("GichVmcr");
  IRQVIRT_FIELD(0, 0, vm_grp0_en);  // VMGrp0En. IHI 0048B §5.3.3; GICH_VMCR_ENABLE_GRP0
  IRQVIRT_FIELD(1, 1, vm_grp1_en);  // VMGrp1En; GICH_VMCR_ENABLE_GRP1
  IRQVIRT_FIELD(2, 2, vm_ack_ctl);  // VMAckCtl; GICH_VMCR_ACK_CTL
  IRQVIRT_FIELD(3, 3, vm_fiq_en);   // VMFIQEn; GICH_VMCR_FIQ_EN
  IRQVIRT_FIELD(4, 4, vm_cbpr);     // VMCBPR; GICH_VMCR_CBPR
  IRQVIRT_RESERVED(8, 5);
  IRQVIRT_FIELD(9, 9, vm_eoi_mode);  // VEM: GICV_CTLR.EOImode; GICH_VMCR_EOI_MODE
  IRQVIRT_RESERVED(17, 10);
  IRQVIRT_FIELD(20, 18, vm_abp);  // VMABP: aliased binary point; ALIAS_BINPOINT
  IRQVIRT_FIELD(23, 21, vm_bp);   // VMBP: binary point; GICH_VMCR_BINPOINT
  IRQVIRT_RESERVED(26, 24);
  IRQVIRT_FIELD(31, 27, vm_pri_mask);  // VMPriMask: GICV_PMR[7:3]; GICH_VMCR_PRIMASK
};

class GichMisr : public reg::Register<GichMisr, 32> {
 public:
  IRQVIRT_REGISTER("GichMisr");
  IRQVIRT_FIELD(0, 0, eoi);     // EOI: some EISR bit is set. IHI 0048B §5.3.4; GICH_MISR_EOI
  IRQVIRT_FIELD(1, 1, u);       // U: underflow; GICH_MISR_U
  IRQVIRT_FIELD(2, 2, lrenp);   // LRENP (Xen/QEMU GICH_MISR layout; gic.md §2.5)
  IRQVIRT_FIELD(3, 3, np);      // NP
  IRQVIRT_FIELD(4, 4, vgrp0e);  // VGrp0E
  IRQVIRT_FIELD(5, 5, vgrp0d);  // VGrp0D
  IRQVIRT_FIELD(6, 6, vgrp1e);  // VGrp1E
  IRQVIRT_FIELD(7, 7, vgrp1d);  // VGrp1D
  IRQVIRT_RESERVED(31, 8);
};

// GICH_EISR0/1 and GICH_ELRSR0/1: one status bit per LR, LRs 0..31 in register 0 and 32..63 in
// register 1 (IHI 0048B §5.3.5, §5.3.6).
class GichLrBitmap : public reg::Register<GichLrBitmap, 32> {
 public:
  IRQVIRT_REGISTER("GichLrBitmap");
  IRQVIRT_FIELD(31, 0, status);
};

// GICH_APR: one active-priority bit per group priority, both groups together (IHI 0048B
// §5.3.7); with 5 priority bits, bit n is priority n << 3.
class GichApr : public reg::Register<GichApr, 32> {
 public:
  IRQVIRT_REGISTER("GichApr");
  IRQVIRT_FIELD(31, 0, active_priorities);
};

static_assert(reg::LayoutIsComplete<GichLrVirtual>());
static_assert(reg::LayoutIsComplete<GichLrHardware>());
static_assert(reg::LayoutIsComplete<GichHcr>());
static_assert(reg::LayoutIsComplete<GichVtr>());
static_assert(reg::LayoutIsComplete<GichVmcr>());
static_assert(reg::LayoutIsComplete<GichMisr>());
static_assert(reg::LayoutIsComplete<GichLrBitmap>());
static_assert(reg::LayoutIsComplete<GichApr>());

inline constexpr uint32_t kGichLrHwBit = uint32_t{1} << 31;
constexpr bool GichLrIsHw(uint32_t lr) { return (lr & kGichLrHwBit) != 0; }

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV2_REGS_H_
