// SPDX-License-Identifier: MIT
// AMD IOMMU 32-bit (legacy) interrupt remapping table entry, used when Control.GAEn = 0.
// Sources: AMD IOMMU spec 48882 §2.2.5.1; Linux drivers/iommu/amd/amd_iommu_types.h (union irte).
#ifndef IRQVIRT_HW_AMD_IRTE32_H_
#define IRQVIRT_HW_AMD_IRTE32_H_

#include "hw/reg/register.h"

namespace hw::amd {

class Irte32 : public reg::Register<Irte32, 32> {
 public:
  IRQVIRT_REGISTER("Irte32");
  IRQVIRT_FIELD(0, 0, valid);         // RemapEn. 48882 §2.2.5.1
  IRQVIRT_FIELD(1, 1, no_fault);      // SupIOPF
  IRQVIRT_FIELD(4, 2, int_type);      // IntType
  IRQVIRT_FIELD(5, 5, rq_eoi);        // RqEoi
  IRQVIRT_FIELD(6, 6, dest_mode);     // DM
  IRQVIRT_RESERVED(7, 7);
  IRQVIRT_FIELD(15, 8, destination);  // 8-bit APIC ID
  IRQVIRT_FIELD(23, 16, vector);
  IRQVIRT_RESERVED(31, 24);
};

static_assert(reg::LayoutIsComplete<Irte32>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_IRTE32_H_
