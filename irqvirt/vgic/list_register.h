// SPDX-License-Identifier: MIT
// Encoding an interrupt into a GICv3 list register, and the AP-list sort key. Both are pure:
// the same encoding builds the real LRs on flush and the pseudo-LRs that deactivate interrupts
// outside the LRs (gic.md §3.7, §3.8).
#ifndef IRQVIRT_VGIC_LIST_REGISTER_H_
#define IRQVIRT_VGIC_LIST_REGISTER_H_

#include <bit>
#include <cstdint>

#include "hw/arm/gicv2_translation.h"
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

// The LR for a GICv2 guest's SGI (gic.md §2.6, §3.10): vINTID[12:10] names one sender, the
// one being handled while it is active, otherwise the lowest waiting one. While other senders
// wait the LR asks for the EOI maintenance interrupt, so that the next one follows in an LR of
// its own once the guest deactivates this one; an active SGI is then never Pending as well,
// since the LR names only one sender. The GICv2 backend moves vINTID[12:10] into GICH_LR.CPUID.
template <typename Irq>
uint64_t ComputeGicV2SgiLr(const Irq& irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
  const uint32_t waiting = irq.sgi_sources;
  uint32_t source = 0;
  uint64_t state = 0;
  bool eoi = false;
  if (irq.active) {
    source = irq.active_source;
    state = hw::arm::kIchLrActiveBit;
    eoi = waiting != 0;
  } else if (waiting != 0) {
    source = static_cast<uint32_t>(std::countr_zero(waiting));
    state = hw::arm::kIchLrPendingBit;
    eoi = (waiting & (waiting - 1)) != 0;  // a second sender waits behind this one
  }
  return hw::arm::IchLrVirtual()
             .set_vintid(irq.intid | (source << hw::arm::kGicv2SgiSourceShift))
             .set_eoi(eoi ? 1 : 0)
             .set_group(irq.group)
             .set_priority(irq.priority)
             .raw() |
         state;
}

// ComputeLr for a guest of `model`.
template <typename Irq>
uint64_t ComputeLr(const Irq& irq, GuestModel model) ABSL_EXCLUSIVE_LOCKS_REQUIRED(irq.lock) {
  if (model == GuestModel::kGicV2 && irq.is_sgi() && !irq.hw) return ComputeGicV2SgiLr(irq);
  return ComputeLr(irq);
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
