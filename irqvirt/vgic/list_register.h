// Encoding an interrupt into a GICv3 list register, and the AP-list sort key. Both are pure:
// the same encoding builds the real LRs on flush and the pseudo-LRs that deactivate interrupts
// outside the LRs (gic.md §3.7, §3.8).
#ifndef IRQVIRT_VGIC_LIST_REGISTER_H_
#define IRQVIRT_VGIC_LIST_REGISTER_H_

#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

// The LR for `irq` as it stands. A level or HW interrupt is never Active+Pending in an LR: a
// level one must be resampled after deactivation (EOI asks for the maintenance interrupt that
// reports it), a HW one keeps its pending state in the physical GIC.
template <typename Irq>
uint64_t ComputeLr(const Irq& irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
  bool allow_pending = true;
  uint64_t lr;
  if (irq.hw) {
    lr = hw::arm::IchLrHardware()
             .set_vintid(irq.intid)
             .set_pintid(irq.hwintid)
             .set_hw(1)
             .set_group(irq.group)
             .set_priority(irq.priority)
             .raw();
    if (irq.active) allow_pending = false;
  } else {
    hw::arm::IchLrVirtual v;
    v.set_vintid(irq.intid).set_group(irq.group).set_priority(irq.priority);
    if (irq.trigger == Trigger::kLevel) {
      v.set_eoi(1);
      if (irq.active) allow_pending = false;
    }
    lr = v.raw();
  }
  if (irq.active) lr |= hw::arm::kIchLrActiveBit;
  if (allow_pending && irq.IsPending()) lr |= hw::arm::kIchLrPendingBit;
  return lr;
}

// The AP-list order (gic.md §3.4, the merged five keys) for an interrupt whose oracle is this
// vCPU: enabled group first, then pending-and-not-active, then priority, then HW before
// non-HW, then insertion order. Lower sorts first.
template <typename Irq>
uint64_t SortKey(const Irq& irq, bool group0_enabled, bool group1_enabled)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
  const bool group_enabled = irq.group == 0 ? group0_enabled : group1_enabled;
  return (uint64_t{group_enabled ? 0u : 1u} << 42) | (uint64_t{irq.active ? 1u : 0u} << 41) |
         (uint64_t{irq.priority} << 33) | (uint64_t{irq.hw ? 0u : 1u} << 32) | irq.ap_seq;
}

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_LIST_REGISTER_H_
