// SPDX-License-Identifier: MIT
// Intel VT-d 128-bit interrupt remapping table entry, in its two formats: remapped (IM = 0: the
// IOMMU sends `vector` to `destination`) and posted (IM = 1: the IOMMU sets `virtual_vector`
// in the posted-interrupt descriptor at pi_desc_address() and notifies per the descriptor).
// Sources: Intel VT-d Architecture Specification rev. 5.10, §9.9 "Interrupt Remapping Table
// Entry (IRTE) for Remapped Interrupts", §9.10 "... for Posted Interrupts"; Linux
// include/linux/dmar.h (struct irte), Xen vtd/iommu.h (struct iremap_entry).
#ifndef IRQVIRT_HW_INTEL_IRTE_H_
#define IRQVIRT_HW_INTEL_IRTE_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::intel {

// Delivery modes of the remapped format (DLM, bits 7:5).
enum class VtdDeliveryMode : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kExtInt = 7
};

// SVT: how the requester ID of the interrupt is checked against SID/SQ.
enum class VtdSourceValidation : uint8_t { kNone = 0, kRequesterId = 1, kBusRange = 2 };

// Remapped format (IM = 0). DST holds the x2APIC ID (IRTA.EIME = 1) or, in xAPIC mode, the
// 8-bit APIC ID in bits 15:8 of the field.
class VtdIrteRemapped : public reg::Register<VtdIrteRemapped, 128> {
 public:
  IRQVIRT_REGISTER("VtdIrteRemapped");
  IRQVIRT_FIELD(0, 0, present);                   // P. VT-d §9.9
  IRQVIRT_FIELD(1, 1, fault_processing_disable);  // FPD
  IRQVIRT_FIELD(2, 2, dest_mode);                 // DM: 0 physical, 1 logical
  IRQVIRT_FIELD(3, 3, redirection_hint);          // RH
  IRQVIRT_FIELD(4, 4, trigger_mode);              // TM: 0 edge, 1 level
  IRQVIRT_FIELD(7, 5, delivery_mode);             // DLM (VtdDeliveryMode)
  IRQVIRT_FIELD(11, 8, available);                // AVAIL: ignored by hardware
  IRQVIRT_RESERVED(14, 12);
  IRQVIRT_FIELD(15, 15, irte_mode);  // IM = 0 in this format
  IRQVIRT_FIELD(23, 16, vector);     // V: host vector
  IRQVIRT_RESERVED(31, 24);
  IRQVIRT_FIELD(63, 32, destination);          // DST
  IRQVIRT_FIELD(79, 64, source_id);            // SID
  IRQVIRT_FIELD(81, 80, source_id_qualifier);  // SQ
  IRQVIRT_FIELD(83, 82, source_validation);    // SVT (VtdSourceValidation)
  IRQVIRT_RESERVED(127, 84);

  static constexpr uint32_t DestinationForXapic(uint8_t apic_id) { return uint32_t{apic_id} << 8; }
};

// Posted format (IM = 1, only with CAP.PI). The descriptor address is 64-byte aligned and split:
// bits 31:6 in PDAL, bits 63:32 in PDAH, which is why a posted entry is written with one 16-byte
// atomic store.
class VtdIrtePosted : public reg::Register<VtdIrtePosted, 128> {
 public:
  IRQVIRT_REGISTER("VtdIrtePosted");
  IRQVIRT_FIELD(0, 0, present);                   // P. VT-d §9.10
  IRQVIRT_FIELD(1, 1, fault_processing_disable);  // FPD
  IRQVIRT_RESERVED(7, 2);
  IRQVIRT_FIELD(11, 8, available);  // AVAIL
  IRQVIRT_RESERVED(13, 12);
  IRQVIRT_FIELD(14, 14, urgent);          // URG: notify even while the descriptor's SN is set
  IRQVIRT_FIELD(15, 15, irte_mode);       // IM = 1 in this format
  IRQVIRT_FIELD(23, 16, virtual_vector);  // VV: the guest vector, the PIR bit to set
  IRQVIRT_RESERVED(37, 24);
  IRQVIRT_FIELD(63, 38, pi_desc_address_lo);   // PDAL: descriptor address bits 31:6
  IRQVIRT_FIELD(79, 64, source_id);            // SID
  IRQVIRT_FIELD(81, 80, source_id_qualifier);  // SQ
  IRQVIRT_FIELD(83, 82, source_validation);    // SVT
  IRQVIRT_RESERVED(95, 84);
  IRQVIRT_FIELD(127, 96, pi_desc_address_hi);  // PDAH: descriptor address bits 63:32

  constexpr uint64_t pi_desc_address() const {
    return (pi_desc_address_lo() << 6) | (pi_desc_address_hi() << 32);
  }
  // `pa` must be 64-byte aligned (the descriptor's alignment); its low 6 bits are not stored.
  constexpr VtdIrtePosted& set_pi_desc_address(uint64_t pa) {
    set_pi_desc_address_lo((pa >> 6) & ((uint64_t{1} << 26) - 1));
    set_pi_desc_address_hi(pa >> 32);
    return *this;
  }
};

static_assert(reg::LayoutIsComplete<VtdIrteRemapped>());
static_assert(reg::LayoutIsComplete<VtdIrtePosted>());

// IM (bit 15) selects the format; it sits at the same place in both.
constexpr bool VtdIrteIsPosted(uint64_t lo) { return (lo >> 15) & 1; }

}  // namespace hw::intel

#endif  // IRQVIRT_HW_INTEL_IRTE_H_
