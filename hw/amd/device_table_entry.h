// SPDX-License-Identifier: MIT
// The interrupt-remapping quadword of an AMD IOMMU device table entry (DTE bits 191:128). A DTE is
// 256 bits; irqvirt programs only this quadword and leaves the DMA-translation ones to the
// embedder.
// Sources: AMD IOMMU spec 48882 §2.2.2 "Device Table Entry Format"; Linux amd_iommu_types.h
// (DTE_IRQ_PHYS_ADDR_MASK, DTE_IRQ_REMAP_INTCTL, DTE_INTTABLEN, DEV_ENTRY_*_PASS bit numbers).
#ifndef IRQVIRT_HW_AMD_DEVICE_TABLE_ENTRY_H_
#define IRQVIRT_HW_AMD_DEVICE_TABLE_ENTRY_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

inline constexpr uint32_t kDeviceTableEntryBytes = 32;
inline constexpr uint32_t kDteInterruptQword = 2;  // byte offset 16 within the entry

// IntCtl values: 0 abort, 1 forward unmapped, 2 remap (DTE_IRQ_REMAP_INTCTL = 2 << 60).
inline constexpr uint64_t kIntCtlRemapped = 2;
// IntTabLen: 2^len entries; 9 = 512 (DTE_INTTABLEN_VALUE_512), 11 = 2048 (DTE_INTTABLEN_VALUE_2K,
// only with Control.NumIntRemapMode = 2K).
inline constexpr uint64_t kIntTabLen512 = 9;
inline constexpr uint64_t kIntTabLen2K = 11;
inline constexpr uint32_t kIrtEntries512 = 512;
inline constexpr uint32_t kIrtEntries2K = 2048;
inline constexpr uint32_t kIrtAlignment = 128;  // DTE_INTTAB_ALIGNMENT

class DteInterrupt : public reg::Register<DteInterrupt, 64> {
 public:
  IRQVIRT_REGISTER("DteInterrupt");
  IRQVIRT_FIELD(0, 0, interrupt_valid);  // IV (DTE bit 128)
  IRQVIRT_FIELD(4, 1, int_tab_len);      // IntTabLen (DTE_INTTABLEN_MASK)
  IRQVIRT_FIELD(5, 5, ignore_unmapped);  // IG
  IRQVIRT_FIELD(51, 6, int_table_root);  // IntTableRootPtr: IRT PA >> 6 (DTE_IRQ_PHYS_ADDR_MASK)
  IRQVIRT_RESERVED(55, 52);
  IRQVIRT_FIELD(56, 56, init_pass);      // INITPass (DEV_ENTRY_INIT_PASS 0xb8)
  IRQVIRT_FIELD(57, 57, eint_pass);      // EIntPass (0xb9)
  IRQVIRT_FIELD(58, 58, nmi_pass);       // NMIPass (0xba)
  IRQVIRT_RESERVED(59, 59);
  IRQVIRT_FIELD(61, 60, int_ctl);        // IntCtl (kIntCtlRemapped)
  IRQVIRT_FIELD(62, 62, lint0_pass);     // Lint0Pass (0xbe)
  IRQVIRT_FIELD(63, 63, lint1_pass);     // Lint1Pass (0xbf)

  constexpr uint64_t table_address() const { return int_table_root() << 6; }
};

static_assert(reg::LayoutIsComplete<DteInterrupt>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_DEVICE_TABLE_ENTRY_H_
