// SPDX-License-Identifier: MIT
// The host's physical GIC as the vGIC core needs it: a guest that deactivates a HW-mapped
// virtual interrupt outside the list registers (EOIcount walk, trapped DIR) must have its
// physical INTID deactivated by the hypervisor (ICC_DIR_EL1 / GICC_DIR), since no LR did it.
#ifndef IRQVIRT_HW_PHYSICAL_GIC_H_
#define IRQVIRT_HW_PHYSICAL_GIC_H_

#include <cstdint>

namespace hw {

class PhysicalGic {
 public:
  virtual ~PhysicalGic() = default;
  // Deactivates physical INTID `pintid` on the current CPU. Called with interrupts off and vGIC
  // locks held: must not block or allocate.
  virtual void Deactivate(uint32_t pintid) = 0;
};

}  // namespace hw

#endif  // IRQVIRT_HW_PHYSICAL_GIC_H_
