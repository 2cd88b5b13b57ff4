// SPDX-License-Identifier: MIT
// AMD AVIC physical and logical APIC ID table entries.
// Sources: AMD64 APM vol. 2 §15.29.3 "AVIC Tables"; Linux arch/x86/include/asm/svm.h
// (AVIC_PHYSICAL_ID_ENTRY_*, AVIC_LOGICAL_ID_ENTRY_*) and arch/x86/kvm/svm/avic.c.
#ifndef IRQVIRT_HW_AMD_AVIC_TABLE_H_
#define IRQVIRT_HW_AMD_AVIC_TABLE_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

// One 64-bit entry per guest physical APIC ID.
class AvicPhysicalIdEntry : public reg::Register<AvicPhysicalIdEntry, 64> {
 public:
  IRQVIRT_REGISTER("AvicPhysicalIdEntry");
  IRQVIRT_FIELD(11, 0, host_apic_id);      // doorbell target (12 bits since Linux ~5.18; 8 before)
  IRQVIRT_FIELD(51, 12, backing_page_ppn); // vAPIC backing page PA >> 12
  IRQVIRT_RESERVED(60, 52);
  // Software only: "blocking, wants GA-log wakeups". Lives in the hypervisor's shadow copy and
  // must never reach the hardware table (KVM AVIC_PHYSICAL_ID_ENTRY_GA_LOG_INTR, bit 61 is SBZ).
  IRQVIRT_FIELD(61, 61, ga_log_intent);
  IRQVIRT_FIELD(62, 62, is_running);       // IsRunning
  IRQVIRT_FIELD(63, 63, valid);            // Valid

  // The value to store in the hardware table: the software-only bit cleared.
  constexpr AvicPhysicalIdEntry ForHardware() const {
    AvicPhysicalIdEntry e = *this;
    return e.set_ga_log_intent(0);
  }
};

// One 32-bit entry per logical APIC ID (xAPIC flat/cluster modes; unused under x2AVIC).
class AvicLogicalIdEntry : public reg::Register<AvicLogicalIdEntry, 32> {
 public:
  IRQVIRT_REGISTER("AvicLogicalIdEntry");
  IRQVIRT_FIELD(7, 0, guest_physical_id);  // AVIC_LOGICAL_ID_ENTRY_GUEST_PHYSICAL_ID_MASK
  IRQVIRT_RESERVED(30, 8);
  IRQVIRT_FIELD(31, 31, valid);            // AVIC_LOGICAL_ID_ENTRY_VALID_MASK
};

static_assert(reg::LayoutIsComplete<AvicPhysicalIdEntry>());
static_assert(reg::LayoutIsComplete<AvicLogicalIdEntry>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_AVIC_TABLE_H_
