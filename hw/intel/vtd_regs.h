// SPDX-License-Identifier: MIT
// Intel VT-d remapping-unit registers used for interrupt remapping, posting and queued
// invalidation: capabilities, global command/status, fault status, the invalidation queue and
// the interrupt remapping table address.
// Sources: Intel VT-d Architecture Specification rev. 5.10, §11.4.2-11.4.4, §11.4.6,
// §11.4.9, §11.4.10; Linux drivers/iommu/intel/iommu.h (DMAR_*_REG offsets, cap_*/ecap_*
// decoders, DMA_GCMD_*/DMA_GSTS_*/DMA_FSTS_*); Xen vtd/iommu.h.
#ifndef IRQVIRT_HW_INTEL_VTD_REGS_H_
#define IRQVIRT_HW_INTEL_VTD_REGS_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::intel {

// Register offsets in the remapping unit's MMIO page (DMAR_*_REG).
namespace vtd_mmio {
inline constexpr uint32_t kCapability = 0x008;           // CAP_REG, 64-bit, RO
inline constexpr uint32_t kExtCapability = 0x010;        // ECAP_REG, 64-bit, RO
inline constexpr uint32_t kGlobalCommand = 0x018;        // GCMD_REG, 32-bit, WO
inline constexpr uint32_t kGlobalStatus = 0x01C;         // GSTS_REG, 32-bit, RO
inline constexpr uint32_t kFaultStatus = 0x034;          // FSTS_REG, 32-bit
inline constexpr uint32_t kInvQueueHead = 0x080;         // IQH_REG, 64-bit, RO
inline constexpr uint32_t kInvQueueTail = 0x088;         // IQT_REG, 64-bit
inline constexpr uint32_t kInvQueueAddress = 0x090;      // IQA_REG, 64-bit
inline constexpr uint32_t kInvCompletionStatus = 0x09C;  // ICS_REG, 32-bit
inline constexpr uint32_t kInvQueueErrorRecord = 0x0B0;  // IQERCD_REG, 64-bit, RO
inline constexpr uint32_t kIrtAddress = 0x0B8;           // IRTA_REG, 64-bit
}  // namespace vtd_mmio

// CAP_REG: only the bits interrupt posting depends on are named.
class VtdCapability : public reg::Register<VtdCapability, 64> {
 public:
  IRQVIRT_REGISTER("VtdCapability");
  IRQVIRT_FIELD(4, 4, rwbf);                 // RWBF: write-buffer flushing required. VT-d §11.4.2
  IRQVIRT_FIELD(7, 7, caching_mode);         // CM
  IRQVIRT_FIELD(59, 59, posted_interrupts);  // PI (cap_pi_support)
  IRQVIRT_FIELD(62, 62, esirtps);            // ESIRTPS: SIRTP also invalidates the IEC
};

// ECAP_REG: queued invalidation, interrupt remapping, x2APIC mode.
class VtdExtCapability : public reg::Register<VtdExtCapability, 64> {
 public:
  IRQVIRT_REGISTER("VtdExtCapability");
  IRQVIRT_FIELD(0, 0, coherency);                // C: table walks snooped. VT-d §11.4.3
  IRQVIRT_FIELD(1, 1, queued_invalidation);      // QI (ecap_qis)
  IRQVIRT_FIELD(3, 3, interrupt_remapping);      // IR (ecap_ir_support)
  IRQVIRT_FIELD(4, 4, extended_interrupt_mode);  // EIM: 32-bit x2APIC destinations
  IRQVIRT_FIELD(23, 20, max_handle_mask);        // MHMV: largest IEC index mask
  IRQVIRT_FIELD(43, 43, scalable_mode);          // SMTS: 256-bit descriptors
};

// GCMD_REG (write-only) and GSTS_REG share bit positions: each command bit's status bit.
// Software changes one bit per write, starting from GSTS with the one-shot bits masked off.
class VtdGlobalCommand : public reg::Register<VtdGlobalCommand, 32> {
 public:
  IRQVIRT_REGISTER("VtdGlobalCommand");
  IRQVIRT_RESERVED(22, 0);
  IRQVIRT_FIELD(23, 23, cfi);    // CFI: compatibility-format interrupts bypass. VT-d §11.4.4.1
  IRQVIRT_FIELD(24, 24, sirtp);  // SIRTP: latch IRTA (one-shot)
  IRQVIRT_FIELD(25, 25, ire);    // IRE: interrupt remapping enable
  IRQVIRT_FIELD(26, 26, qie);    // QIE: queued invalidation enable
  IRQVIRT_FIELD(27, 27, wbf);    // WBF: write-buffer flush (one-shot)
  IRQVIRT_RESERVED(29, 28);      // EAFL, SFL (not used by interrupt remapping)
  IRQVIRT_FIELD(30, 30, srtp);   // SRTP: latch the root table (one-shot)
  IRQVIRT_FIELD(31, 31, te);     // TE: DMA translation enable

  // GSTS & this = the persistent command bits to carry into a GCMD write (clears the one-shot
  // SRTP, SFL, WBF and SIRTP): 0x96FFFFFF, VT-d §11.4.4.1.
  static constexpr uint32_t kPersistentMask = 0x96FFFFFFu;
};

class VtdGlobalStatus : public reg::Register<VtdGlobalStatus, 32> {
 public:
  IRQVIRT_REGISTER("VtdGlobalStatus");
  IRQVIRT_RESERVED(22, 0);
  IRQVIRT_FIELD(23, 23, cfis);   // CFIS. VT-d §11.4.4.2
  IRQVIRT_FIELD(24, 24, irtps);  // IRTPS: cleared by SIRTP, set when IRTA is latched
  IRQVIRT_FIELD(25, 25, ires);   // IRES
  IRQVIRT_FIELD(26, 26, qies);   // QIES
  IRQVIRT_FIELD(27, 27, wbfs);   // WBFS
  IRQVIRT_RESERVED(29, 28);
  IRQVIRT_FIELD(30, 30, rtps);  // RTPS
  IRQVIRT_FIELD(31, 31, tes);   // TES
};

// FSTS_REG: the invalidation-queue errors (write 1 to clear).
class VtdFaultStatus : public reg::Register<VtdFaultStatus, 32> {
 public:
  IRQVIRT_REGISTER("VtdFaultStatus");
  IRQVIRT_FIELD(0, 0, pfo);  // PFO: primary fault overflow. VT-d §11.4.6
  IRQVIRT_FIELD(1, 1, ppf);  // PPF: primary pending fault (RO)
  IRQVIRT_RESERVED(3, 2);
  IRQVIRT_FIELD(4, 4, iqe);  // IQE: invalidation queue error (DMA_FSTS_IQE)
  IRQVIRT_FIELD(5, 5, ice);  // ICE: invalidation completion error (DMA_FSTS_ICE)
  IRQVIRT_FIELD(6, 6, ite);  // ITE: invalidation time-out error (DMA_FSTS_ITE)
  IRQVIRT_RESERVED(31, 7);

  static constexpr uint32_t kQueueErrorMask = 0x70;  // IQE | ICE | ITE
};

// IQH_REG / IQT_REG: byte offsets into the queue, 16-byte granular.
class VtdInvQueuePointer : public reg::Register<VtdInvQueuePointer, 64> {
 public:
  IRQVIRT_REGISTER("VtdInvQueuePointer");
  IRQVIRT_RESERVED(3, 0);
  IRQVIRT_FIELD(18, 4, index);  // QH / QT: descriptor index (128-bit descriptors). VT-d §11.4.9
  IRQVIRT_RESERVED(63, 19);

  static constexpr VtdInvQueuePointer FromByteOffset(uint32_t offset) {
    return VtdInvQueuePointer().set_index(offset >> 4);
  }
  constexpr uint32_t byte_offset() const { return static_cast<uint32_t>(index()) << 4; }
};

// IQA_REG: queue base, descriptor width, size (2^QS pages of 256 128-bit descriptors).
class VtdInvQueueAddress : public reg::Register<VtdInvQueueAddress, 64> {
 public:
  IRQVIRT_REGISTER("VtdInvQueueAddress");
  IRQVIRT_FIELD(2, 0, queue_size);  // QS. VT-d §11.4.9.3
  IRQVIRT_RESERVED(10, 3);
  IRQVIRT_FIELD(11, 11, descriptor_width);  // DW: 0 = 128-bit, 1 = 256-bit
  IRQVIRT_FIELD(63, 12, base_ppn);          // IQA: base >> 12
};

// ICS_REG.
class VtdInvCompletionStatus : public reg::Register<VtdInvCompletionStatus, 32> {
 public:
  IRQVIRT_REGISTER("VtdInvCompletionStatus");
  IRQVIRT_FIELD(0, 0, iwc);  // IWC: a wait descriptor with IF = 1 completed (W1C). §11.4.9.4
  IRQVIRT_RESERVED(31, 1);
};

// IQERCD_REG: why the queue stopped.
class VtdInvQueueErrorRecord : public reg::Register<VtdInvQueueErrorRecord, 64> {
 public:
  IRQVIRT_REGISTER("VtdInvQueueErrorRecord");
  IRQVIRT_FIELD(3, 0, iqei);  // IQEI: 1 bad tail, 2 fetch, 3 bad type, 4 reserved bits... §11.4.9.9
  IRQVIRT_RESERVED(31, 4);
  IRQVIRT_FIELD(47, 32, itesid);  // ITESID
  IRQVIRT_FIELD(63, 48, icesid);  // ICESID
};

// IRTA_REG: latched by GCMD.SIRTP.
class VtdIrtAddress : public reg::Register<VtdIrtAddress, 64> {
 public:
  IRQVIRT_REGISTER("VtdIrtAddress");
  IRQVIRT_FIELD(3, 0, size);  // S: the table has 2^(S + 1) entries. VT-d §11.4.10
  IRQVIRT_RESERVED(10, 4);
  IRQVIRT_FIELD(11, 11, eime);      // EIME: x2APIC (32-bit) destinations
  IRQVIRT_FIELD(63, 12, base_ppn);  // IRTA: table base >> 12

  constexpr uint32_t entries() const { return 2u << size(); }
};

static_assert(reg::LayoutIsComplete<VtdGlobalCommand>());
static_assert(reg::LayoutIsComplete<VtdGlobalStatus>());
static_assert(reg::LayoutIsComplete<VtdFaultStatus>());
static_assert(reg::LayoutIsComplete<VtdInvQueuePointer>());
static_assert(reg::LayoutIsComplete<VtdInvQueueAddress>());
static_assert(reg::LayoutIsComplete<VtdIrtAddress>());

}  // namespace hw::intel

#endif  // IRQVIRT_HW_INTEL_VTD_REGS_H_
