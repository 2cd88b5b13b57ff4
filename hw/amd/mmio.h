// SPDX-License-Identifier: MIT
// AMD IOMMU MMIO registers used by interrupt remapping, guest virtual APIC and the GA log.
// Sources: AMD IOMMU spec 48882 §3.4 (MMIO registers); Linux drivers/iommu/amd/amd_iommu_types.h
// (MMIO_* offsets, CONTROL_*, FEATURE_*, MMIO_STATUS_* bit numbers). Bits marked RFC come from
// the GAPPI RFC v3 series and are not in any released specification or kernel.
#ifndef IRQVIRT_HW_AMD_MMIO_H_
#define IRQVIRT_HW_AMD_MMIO_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

// Register offsets in the IOMMU MMIO window (amd_iommu_types.h MMIO_*_OFFSET).
namespace mmio {
inline constexpr uint32_t kDeviceTableBase = 0x0000;
inline constexpr uint32_t kCommandBufferBase = 0x0008;
inline constexpr uint32_t kEventLogBase = 0x0010;
inline constexpr uint32_t kControl = 0x0018;
inline constexpr uint32_t kExtendedFeature = 0x0030;
inline constexpr uint32_t kGaLogBase = 0x00e0;
inline constexpr uint32_t kGaLogTailAddress = 0x00e8;
inline constexpr uint32_t kGaLogIntCapXt = 0x0180;
inline constexpr uint32_t kExtendedFeature2 = 0x01a0;
inline constexpr uint32_t kCommandHead = 0x2000;
inline constexpr uint32_t kCommandTail = 0x2008;
inline constexpr uint32_t kStatus = 0x2020;
inline constexpr uint32_t kGaLogHead = 0x2040;
inline constexpr uint32_t kGaLogTail = 0x2048;
inline constexpr uint32_t kWindowSize = 0x80000;  // MMIO_REG_END_OFFSET
}  // namespace mmio

// Device table base address register, MMIO 0x00.
class DeviceTableBase : public reg::Register<DeviceTableBase, 64> {
 public:
  IRQVIRT_REGISTER("DeviceTableBase");
  IRQVIRT_FIELD(8, 0, size);        // DevTabSize: table is (size + 1) x 4 KiB. 48882 §3.4.1
  IRQVIRT_RESERVED(11, 9);
  IRQVIRT_FIELD(51, 12, base_ppn);  // DevTabBase: PA >> 12
  IRQVIRT_RESERVED(63, 52);
};

// Command buffer base address register, MMIO 0x08.
class CommandBufferBase : public reg::Register<CommandBufferBase, 64> {
 public:
  IRQVIRT_REGISTER("CommandBufferBase");
  IRQVIRT_RESERVED(11, 0);
  IRQVIRT_FIELD(51, 12, base_ppn);  // ComBase: PA >> 12. 48882 §3.4.2
  IRQVIRT_RESERVED(55, 52);
  IRQVIRT_FIELD(59, 56, length);    // ComLen: 2^length entries (MMIO_CMD_SIZE_512 = 0x9 << 56)
  IRQVIRT_RESERVED(63, 60);
};

// Command buffer length code for 512 16-byte entries (log2, unlike the GA log's code).
inline constexpr uint64_t kCommandBufferLength512 = 0x9;
inline constexpr uint32_t kCommandBufferEntries = 512;
inline constexpr uint32_t kCommandBufferBytes = kCommandBufferEntries * 16;

// Command buffer head / tail pointer registers, MMIO 0x2000 / 0x2008: byte offset of a 16-byte
// entry (Linux reads and writes them as byte offsets, CMD_BUFFER_SIZE wrap).
class CommandBufferPointer : public reg::Register<CommandBufferPointer, 64> {
 public:
  IRQVIRT_REGISTER("CommandBufferPointer");
  IRQVIRT_RESERVED(3, 0);
  IRQVIRT_FIELD(18, 4, entry_index);  // CmdHdPtr / CmdTailPtr: byte offset >> 4. 48882 §3.4.11
  IRQVIRT_RESERVED(63, 19);

  constexpr uint32_t byte_offset() const { return static_cast<uint32_t>(entry_index() * 16); }
  static constexpr CommandBufferPointer FromByteOffset(uint32_t offset) {
    return CommandBufferPointer().set_entry_index(offset / 16);
  }
};

// IntCapXT interrupt control registers (event 0x170, PPR 0x178, GA log 0x180): where the IOMMU
// sends its own interrupt when Control.IntCapXTEn = 1 (Linux union intcapxt, init.c).
class IntCapXt : public reg::Register<IntCapXt, 64> {
 public:
  IRQVIRT_REGISTER("IntCapXt");
  IRQVIRT_RESERVED(1, 0);
  IRQVIRT_FIELD(2, 2, dest_mode_logical);  // DM
  IRQVIRT_RESERVED(7, 3);
  IRQVIRT_FIELD(31, 8, destination_lo);    // APIC ID[23:0]
  IRQVIRT_FIELD(39, 32, vector);
  IRQVIRT_RESERVED(55, 40);
  IRQVIRT_FIELD(63, 56, destination_hi);   // APIC ID[31:24]

  constexpr uint32_t destination() const {
    return static_cast<uint32_t>(destination_lo() | (destination_hi() << 24));
  }
  constexpr IntCapXt& set_destination(uint32_t apic_id) {
    set_destination_lo(apic_id & 0xffffff);
    return set_destination_hi(apic_id >> 24);
  }
};

// Control register, MMIO 0x18. Only the fields irqvirt programs or reports are listed; the
// other bits belong to features irqvirt leaves alone (DMA remapping, PPR, ...).
class IommuControl : public reg::Register<IommuControl, 64> {
 public:
  IRQVIRT_REGISTER("IommuControl");
  IRQVIRT_FIELD(0, 0, iommu_en);          // IommuEn. 48882 §3.4.3
  IRQVIRT_FIELD(2, 2, event_log_en);      // EventLogEn
  IRQVIRT_FIELD(3, 3, event_int_en);      // EventIntEn
  IRQVIRT_FIELD(4, 4, com_wait_int_en);   // ComWaitIntEn
  IRQVIRT_FIELD(7, 5, inv_timeout);       // InvTimeOut: 0 none, 1 = 1 ms ... 6 = 100 s
  IRQVIRT_FIELD(12, 12, cmd_buf_en);      // CmdBufEn
  IRQVIRT_FIELD(16, 16, gt_en);           // GTEn
  IRQVIRT_FIELD(17, 17, ga_en);           // GAEn: 128-bit IRTE format (CONTROL_GA_EN)
  IRQVIRT_FIELD(27, 25, gam_en);          // GAMEn: 1 = guest vAPIC mode (Linux sets bit 25, CONTROL_GAM_EN)
  IRQVIRT_FIELD(28, 28, ga_log_en);       // GALogEn (CONTROL_GALOG_EN)
  IRQVIRT_FIELD(29, 29, ga_int_en);       // GAIntEn (CONTROL_GAINT_EN)
  IRQVIRT_FIELD(44, 43,
                num_int_remap_mode);  // NumIntRemapMode: 1 = 2K IRTEs (CONTROL_NUM_INT_REMAP_MODE)
  IRQVIRT_FIELD(50, 50, xt_en);           // XTEn: 32-bit destinations (CONTROL_XT_EN)
  IRQVIRT_FIELD(51, 51, int_cap_xt_en);   // IntCapXTEn (CONTROL_INTCAPXT_EN)
  IRQVIRT_FIELD(55, 55, gappi_en);        // GAPPIEn (RFC: CONTROL_GAPPI_EN 55)
  IRQVIRT_FIELD(59, 59, irt_cache_dis);   // IRTCacheDis: IRTEs not cached (CONTROL_IRTCACHEDIS)
  IRQVIRT_FIELD(61, 61, snp_avic_en);     // SNPAVICEn (CONTROL_SNPAVIC_EN)
};

// IommuControl::num_int_remap_mode and IommuExtendedFeature2::num_int_remap_sup: 2048-entry
// interrupt remapping tables (CONTROL_NUM_INT_REMAP_MODE_2K, FEATURE_NUM_INT_REMAP_SUP_2K).
inline constexpr uint64_t kNumIntRemap2K = 1;

// Guest APIC mode value for IommuControl::gam_en.
inline constexpr uint64_t kGamVirtualApic = 1;

// Extended Feature Register, MMIO 0x30 (FEATURE_* in amd_iommu_types.h).
class IommuExtendedFeature : public reg::Register<IommuExtendedFeature, 64> {
 public:
  IRQVIRT_REGISTER("IommuExtendedFeature");
  IRQVIRT_FIELD(2, 2, xt_sup);       // XTSup (FEATURE_X2APIC)
  IRQVIRT_FIELD(4, 4, gt_sup);       // GTSup (FEATURE_GT)
  IRQVIRT_FIELD(5, 5, gappi_sup);    // GAPPISup (RFC: FEATURE_GAPPI BIT_ULL(5))
  IRQVIRT_FIELD(6, 6, ia_sup);       // IASup (FEATURE_IA)
  IRQVIRT_FIELD(7, 7, ga_sup);       // GASup (FEATURE_GA)
  IRQVIRT_FIELD(23, 21, gam_sup);    // GAMSup: bit 21 set = vAPIC mode (Linux FEATURE_GAM_VAPIC)
};

// Extended Feature 2 Register, MMIO 0x1A0.
class IommuExtendedFeature2 : public reg::Register<IommuExtendedFeature2, 64> {
 public:
  IRQVIRT_REGISTER("IommuExtendedFeature2");
  IRQVIRT_FIELD(4, 4, gappi_dis_sup);      // GAPPIDisSup (RFC: FEATURE_GAPPIDISSUP BIT_ULL(4))
  IRQVIRT_FIELD(7, 5, snp_avic_sup);       // SNPAVICSup (FEATURE_SNPAVICSUP GENMASK(7,5))
  IRQVIRT_FIELD(9, 8, num_int_remap_sup);  // NumIntRemapSup: 1 = 2K IRTEs per table
};

// Status register, MMIO 0x2020 (MMIO_STATUS_* in amd_iommu_types.h).
class IommuStatus : public reg::Register<IommuStatus, 32> {
 public:
  IRQVIRT_REGISTER("IommuStatus");
  IRQVIRT_FIELD(0, 0, event_overflow);   // EventOverflow (W1C)
  IRQVIRT_FIELD(1, 1, event_log_int);    // EventLogInt (W1C)
  IRQVIRT_FIELD(2, 2, com_wait_int);     // ComWaitInt (W1C)
  IRQVIRT_FIELD(3, 3, event_log_run);    // EventLogRun (RO)
  IRQVIRT_FIELD(4, 4, cmd_buf_run);      // CmdBufRun (RO)
  IRQVIRT_FIELD(5, 5, ppr_overflow);     // PprOverflow (W1C)
  IRQVIRT_FIELD(6, 6, ppr_int);          // PprInt (W1C)
  IRQVIRT_FIELD(7, 7, ppr_log_run);      // PprLogRun (RO)
  IRQVIRT_FIELD(8, 8, ga_log_run);       // GALogRun (RO, MMIO_STATUS_GALOG_RUN_MASK)
  IRQVIRT_FIELD(9, 9, ga_log_overflow);  // GALOverflow (W1C, MMIO_STATUS_GALOG_OVERFLOW_MASK)
  IRQVIRT_FIELD(10, 10, ga_int);         // GAInt (W1C, MMIO_STATUS_GALOG_INT_MASK)
  IRQVIRT_RESERVED(31, 11);

  // Bits that software clears by writing 1; writing 0 leaves them, and the RO bits ignore writes.
  static constexpr uint32_t kWriteOneToClearMask =
      (1u << 0) | (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 9) | (1u << 10);
};

// GA log length code for 512 entries (GA_LOG_SIZE_512 = 0x8 << 56). Not log2(entries).
inline constexpr uint64_t kGaLogLength512 = 0x8;
inline constexpr uint32_t kGaLogEntries = 512;
inline constexpr uint32_t kGaLogEntryBytes = 8;
inline constexpr uint32_t kGaLogBytes = kGaLogEntries * kGaLogEntryBytes;

// GA log base address register, MMIO 0xE0.
class GaLogBase : public reg::Register<GaLogBase, 64> {
 public:
  IRQVIRT_REGISTER("GaLogBase");
  IRQVIRT_RESERVED(11, 0);
  IRQVIRT_FIELD(51, 12, base_ppn);  // GALogBase: log PA >> 12 (4 KiB aligned). 48882 §3.4.12
  IRQVIRT_RESERVED(55, 52);
  IRQVIRT_FIELD(59, 56, length);    // GALogLen: kGaLogLength512
  IRQVIRT_RESERVED(63, 60);
};

// GA log tail address register, MMIO 0xE8: where the IOMMU stores the tail pointer.
class GaLogTailAddress : public reg::Register<GaLogTailAddress, 64> {
 public:
  IRQVIRT_REGISTER("GaLogTailAddress");
  IRQVIRT_RESERVED(2, 0);
  IRQVIRT_FIELD(51, 3, address_qword);  // PA >> 3 (Linux writes pa & (BIT(52)-1) & ~7)
  IRQVIRT_RESERVED(63, 52);
};

// GA log head / tail pointer registers, MMIO 0x2040 / 0x2048. The register value is the byte
// offset of the entry (Linux reads and writes it as such, stepping by 8); bits 2:0 are zero.
class GaLogPointer : public reg::Register<GaLogPointer, 64> {
 public:
  IRQVIRT_REGISTER("GaLogPointer");
  IRQVIRT_RESERVED(2, 0);
  IRQVIRT_FIELD(18, 3, entry_index);  // byte offset >> 3
  IRQVIRT_RESERVED(63, 19);

  constexpr uint32_t byte_offset() const { return static_cast<uint32_t>(entry_index() * 8); }
  static constexpr GaLogPointer FromByteOffset(uint32_t offset) {
    return GaLogPointer().set_entry_index(offset / 8);
  }
};

static_assert(reg::LayoutIsComplete<DeviceTableBase>());
static_assert(reg::LayoutIsComplete<CommandBufferBase>());
static_assert(reg::LayoutIsComplete<CommandBufferPointer>());
static_assert(reg::LayoutIsComplete<IntCapXt>());
static_assert(reg::LayoutIsComplete<IommuStatus>());
static_assert(reg::LayoutIsComplete<GaLogBase>());
static_assert(reg::LayoutIsComplete<GaLogTailAddress>());
static_assert(reg::LayoutIsComplete<GaLogPointer>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_MMIO_H_
