// SPDX-License-Identifier: MIT
// Intel VT-d invalidation-queue descriptors (128-bit form) used for interrupt remapping: the
// interrupt entry cache invalidation and the invalidation wait. The descriptor type is 7 bits,
// split over bits 11:9 (high part, 0 for both) and 3:0.
// Sources: Intel VT-d Architecture Specification rev. 5.10, §6.5.2 (type encoding), §6.5.2.8
// "Interrupt Entry Cache Invalidate Descriptor", §6.5.2.9 "Invalidation Wait Descriptor"; Linux
// drivers/iommu/intel/iommu.h (QI_IEC_*, QI_IWD_*); Xen vtd/iommu.h (iec_inv_dsc, inv_wait_dsc).
#ifndef IRQVIRT_HW_INTEL_INVALIDATION_DESCRIPTOR_H_
#define IRQVIRT_HW_INTEL_INVALIDATION_DESCRIPTOR_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::intel {

inline constexpr uint64_t kVtdDescriptorIec = 4;   // QI_IEC_TYPE
inline constexpr uint64_t kVtdDescriptorWait = 5;  // QI_IWD_TYPE

// The type of a descriptor from its low qword (both parts).
constexpr uint64_t VtdDescriptorType(uint64_t lo) { return ((lo >> 9) & 0x7) << 4 | (lo & 0xf); }

class VtdIecInvalidation : public reg::Register<VtdIecInvalidation, 128> {
 public:
  IRQVIRT_REGISTER("VtdIecInvalidation");
  IRQVIRT_FIELD(3, 0, type);             // 4. VT-d §6.5.2.8
  IRQVIRT_FIELD(4, 4, index_selective);  // G: 0 global, 1 the 2^index_mask block at index
  IRQVIRT_RESERVED(8, 5);
  IRQVIRT_FIELD(11, 9, type_hi);  // 0
  IRQVIRT_RESERVED(26, 12);
  IRQVIRT_FIELD(31, 27, index_mask);  // IM: low bits of IIDX ignored (<= ECAP.MHMV)
  IRQVIRT_FIELD(47, 32, index);       // IIDX
  IRQVIRT_RESERVED(63, 48);
  IRQVIRT_RESERVED(127, 64);

  static constexpr VtdIecInvalidation ForIndex(uint16_t index) {
    return VtdIecInvalidation().set_type(kVtdDescriptorIec).set_index_selective(1).set_index(index);
  }
  static constexpr VtdIecInvalidation Global() {
    return VtdIecInvalidation().set_type(kVtdDescriptorIec);
  }
};

class VtdInvalidationWait : public reg::Register<VtdInvalidationWait, 128> {
 public:
  IRQVIRT_REGISTER("VtdInvalidationWait");
  IRQVIRT_FIELD(3, 0, type);                // 5. VT-d §6.5.2.9
  IRQVIRT_FIELD(4, 4, interrupt_flag);      // IF: set ICS.IWC (and maybe interrupt) on completion
  IRQVIRT_FIELD(5, 5, status_write);        // SW: write status_data to the status address
  IRQVIRT_FIELD(6, 6, fence);               // FN: later descriptors wait for this one
  IRQVIRT_FIELD(7, 7, page_request_drain);  // PD
  IRQVIRT_RESERVED(8, 8);
  IRQVIRT_FIELD(11, 9, type_hi);  // 0
  IRQVIRT_RESERVED(31, 12);
  IRQVIRT_FIELD(63, 32, status_data);
  IRQVIRT_RESERVED(65, 64);
  IRQVIRT_FIELD(127, 66, status_address_dw);  // status address >> 2 (dword aligned)

  // A wait that stores `data` at `pa` (dword aligned) when everything before it completed.
  static constexpr VtdInvalidationWait StoreOnCompletion(uint64_t pa, uint32_t data) {
    return VtdInvalidationWait()
        .set_type(kVtdDescriptorWait)
        .set_status_write(1)
        .set_fence(1)
        .set_status_data(data)
        .set_status_address_dw(pa >> 2);
  }
  constexpr uint64_t status_address() const { return status_address_dw() << 2; }
};

static_assert(reg::LayoutIsComplete<VtdIecInvalidation>());
static_assert(reg::LayoutIsComplete<VtdInvalidationWait>());

}  // namespace hw::intel

#endif  // IRQVIRT_HW_INTEL_INVALIDATION_DESCRIPTOR_H_
