// SPDX-License-Identifier: MIT
// GICv2 register values to and from the abstract CPU-interface state (hw::VgicCpuState keeps
// GICv3 ICH_*_EL2 layouts). The GICv2 fields are a subset of the GICv3 ones with the same
// meaning (gic.md §2 against §1):
//   - LR: VirtualID is vINTID[9:0]; an SGI's source CPU travels in vINTID[12:10], as KVM does
//     for GICv2 guests on GICv3 hosts, so the guest's IAR shows it either way; PhysicalID is
//     pINTID[9:0]; the 5 priority bits are Priority[7:3]. NMI has no GICv2 counterpart.
//   - HCR: bits 7:0 and EOICount match; vSGIEOICount, TC, TALL*, TSEI, TDIR and DVIM do not
//     exist (GICv2 cannot trap ICV_* accesses; GICV_DIR traps because its page is unmapped).
//   - VMCR: bits 23:0 match; VMPriMask is VPMR[7:3].
//   - MISR: bits 7:0 match.
// Values that do not fit (a vINTID above 1023 plus source, a pINTID above 1023) are truncated
// to the GICv2 field: the vGIC core never produces them for a GICv2 guest.
#ifndef IRQVIRT_HW_ARM_GICV2_TRANSLATION_H_
#define IRQVIRT_HW_ARM_GICV2_TRANSLATION_H_

#include <cstdint>

#include "hw/arm/gicv2_regs.h"
#include "hw/arm/gicv3_regs.h"

namespace hw::arm {

// Bits of an ICH_LR vINTID that a GICv2 LR carries: VirtualID and, for SGIs, the source CPU.
inline constexpr uint32_t kGicv2VirtualIdMask = 0x3ff;
inline constexpr int kGicv2SgiSourceShift = 10;
inline constexpr uint32_t kGicv2SgiSourceMask = 0x7;

constexpr uint32_t GichLrFromIchLr(uint64_t ich) {
  const auto v = IchLrVirtual::FromRaw(ich);
  const uint64_t vintid = v.vintid();
  const uint64_t priority = v.priority() >> 3;
  if (IchLrIsHw(ich)) {
    return GichLrHardware()
        .set_virtual_id(vintid & kGicv2VirtualIdMask)
        .set_physical_id(IchLrHardware::FromRaw(ich).pintid() & kGicv2VirtualIdMask)
        .set_priority(priority)
        .set_state(v.state())
        .set_grp1(v.group())
        .set_hw(1)
        .raw();
  }
  return GichLrVirtual()
      .set_virtual_id(vintid & kGicv2VirtualIdMask)
      .set_cpuid((vintid >> kGicv2SgiSourceShift) & kGicv2SgiSourceMask)
      .set_eoi(v.eoi())
      .set_priority(priority)
      .set_state(v.state())
      .set_grp1(v.group())
      .raw();
}

constexpr uint64_t IchLrFromGichLr(uint32_t gich) {
  if (GichLrIsHw(gich)) {
    const auto h = GichLrHardware::FromRaw(gich);
    return IchLrHardware()
        .set_vintid(h.virtual_id())
        .set_pintid(h.physical_id())
        .set_priority(h.priority() << 3)
        .set_state(h.state())
        .set_group(h.grp1())
        .set_hw(1)
        .raw();
  }
  const auto v = GichLrVirtual::FromRaw(gich);
  return IchLrVirtual()
      .set_vintid(v.virtual_id() | (v.cpuid() << kGicv2SgiSourceShift))
      .set_eoi(v.eoi())
      .set_priority(v.priority() << 3)
      .set_state(v.state())
      .set_group(v.grp1())
      .raw();
}

constexpr uint32_t GichHcrFromIchHcr(uint64_t ich) {
  const auto h = IchHcr::FromRaw(ich);
  return GichHcr()
      .set_en(h.en())
      .set_uie(h.uie())
      .set_lrenpie(h.lrenpie())
      .set_npie(h.npie())
      .set_vgrp0eie(h.vgrp0eie())
      .set_vgrp0die(h.vgrp0die())
      .set_vgrp1eie(h.vgrp1eie())
      .set_vgrp1die(h.vgrp1die())
      .set_eoicount(h.eoicount())
      .raw();
}

constexpr uint64_t IchHcrFromGichHcr(uint32_t gich) {
  const auto h = GichHcr::FromRaw(gich);
  return IchHcr()
      .set_en(h.en())
      .set_uie(h.uie())
      .set_lrenpie(h.lrenpie())
      .set_npie(h.npie())
      .set_vgrp0eie(h.vgrp0eie())
      .set_vgrp0die(h.vgrp0die())
      .set_vgrp1eie(h.vgrp1eie())
      .set_vgrp1die(h.vgrp1die())
      .set_eoicount(h.eoicount())
      .raw();
}

constexpr uint32_t GichVmcrFromIchVmcr(uint64_t ich) {
  const auto v = IchVmcr::FromRaw(ich);
  return GichVmcr()
      .set_vm_grp0_en(v.veng0())
      .set_vm_grp1_en(v.veng1())
      .set_vm_ack_ctl(v.vackctl())
      .set_vm_fiq_en(v.vfiqen())
      .set_vm_cbpr(v.vcbpr())
      .set_vm_eoi_mode(v.veoim())
      .set_vm_abp(v.vbpr1())
      .set_vm_bp(v.vbpr0())
      .set_vm_pri_mask(v.vpmr() >> 3)
      .raw();
}

constexpr uint64_t IchVmcrFromGichVmcr(uint32_t gich) {
  const auto v = GichVmcr::FromRaw(gich);
  return IchVmcr()
      .set_veng0(v.vm_grp0_en())
      .set_veng1(v.vm_grp1_en())
      .set_vackctl(v.vm_ack_ctl())
      .set_vfiqen(v.vm_fiq_en())
      .set_vcbpr(v.vm_cbpr())
      .set_veoim(v.vm_eoi_mode())
      .set_vbpr1(v.vm_abp())
      .set_vbpr0(v.vm_bp())
      .set_vpmr(v.vm_pri_mask() << 3)
      .raw();
}

// GICH_MISR and ICH_MISR_EL2 share bits 7:0; the rest is RES0 in both.
constexpr uint64_t IchMisrFromGichMisr(uint32_t gich) { return gich & ~GichMisr::ReservedMask(0); }
constexpr uint32_t GichMisrFromIchMisr(uint64_t ich) {
  return static_cast<uint32_t>(ich & ~IchMisr::ReservedMask(0));
}

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV2_TRANSLATION_H_
