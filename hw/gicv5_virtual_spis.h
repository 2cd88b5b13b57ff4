// SPDX-License-Identifier: MIT
// The GICv5 interrupt routing service (IRS) as the vGIC core needs it for a VM's virtual SPIs:
// read one SPI's state and set or clear its pending state. On hardware both are GIC system
// instructions executed at EL2 (gic.md §4.2, §4.5): GIC VDRCFG then ICC_ICSR_EL1, and GIC
// VDPEND; hw/arm/gicv5_virtual_spis_backend.h issues them, the fake IRS plays them in tests.
#ifndef IRQVIRT_HW_GICV5_VIRTUAL_SPIS_H_
#define IRQVIRT_HW_GICV5_VIRTUAL_SPIS_H_

#include <cstdint>

namespace hw {

class Gicv5VirtualSpis {
 public:
  virtual ~Gicv5VirtualSpis() = default;
  // The raw ICC_ICSR_EL1 value for virtual SPI `id` of VM `vm` (hw::arm::IccIcsr; F set means
  // the query was invalid). Called with interrupts off and vGIC locks held: must not block or
  // allocate, and must not call back into the vGIC.
  virtual uint64_t QuerySpi(uint16_t vm, uint32_t id) = 0;
  // Sets (`pending`) or clears the pending state of virtual SPI `id` of VM `vm`. Same rules.
  virtual void SetSpiPending(uint16_t vm, uint32_t id, bool pending) = 0;
};

}  // namespace hw

#endif  // IRQVIRT_HW_GICV5_VIRTUAL_SPIS_H_
