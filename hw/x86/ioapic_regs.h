// SPDX-License-Identifier: MIT
// I/O APIC registers: the 64-bit redirection table entry and the ID, version and arbitration
// registers. Sources: Intel 82093AA I/O APIC datasheet §3.2; Linux arch/x86/include/asm/io_apic.h
// (struct IO_APIC_route_entry, IO_APIC_reg_00/01/02); KVM arch/x86/kvm/ioapic.h.
#ifndef IRQVIRT_HW_X86_IOAPIC_REGS_H_
#define IRQVIRT_HW_X86_IOAPIC_REGS_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::x86 {

// Direct registers, offsets in the I/O APIC MMIO window.
inline constexpr uint32_t kIoapicRegSel = 0x00;
inline constexpr uint32_t kIoapicWindow = 0x10;
inline constexpr uint32_t kIoapicEoi = 0x40;  // version 0x20 parts only
inline constexpr uint32_t kIoapicMmioSize = 0x100;

// Indirect register selectors (IOREGSEL values).
inline constexpr uint8_t kIoapicSelId = 0x00;
inline constexpr uint8_t kIoapicSelVersion = 0x01;
inline constexpr uint8_t kIoapicSelArbitration = 0x02;
inline constexpr uint8_t kIoapicSelRedirBase = 0x10;  // RTE n: 0x10 + 2n (low), 0x11 + 2n (high)

enum class IoapicDeliveryMode : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kExtInt = 7,
};

class IoapicRedirectionEntry : public reg::Register<IoapicRedirectionEntry, 64> {
 public:
  IRQVIRT_REGISTER("IoapicRedirectionEntry");
  IRQVIRT_FIELD(7, 0, vector);            // INTVEC. 82093AA §3.2.4
  IRQVIRT_FIELD(10, 8, delivery_mode);    // DELMOD (IoapicDeliveryMode)
  IRQVIRT_FIELD(11, 11, dest_mode);       // DESTMOD: 0 physical, 1 logical
  IRQVIRT_FIELD(12, 12, delivery_status); // DELIVS (read-only)
  IRQVIRT_FIELD(13, 13, polarity);        // INTPOL: 1 = active low
  IRQVIRT_FIELD(14, 14, remote_irr);      // Remote IRR (read-only): level IRQ accepted, no EOI yet
  IRQVIRT_FIELD(15, 15, trigger_mode);    // TRIGGER: 0 edge, 1 level
  IRQVIRT_FIELD(16, 16, mask);            // MASK
  IRQVIRT_RESERVED(48, 17);
  IRQVIRT_FIELD(55, 49, virt_ext_dest_id);  // extended destination ID, when the hypervisor offers it
  IRQVIRT_FIELD(63, 56, destination);     // DEST: APIC ID (physical) or logical set

  // Bits the guest cannot change by writing the entry.
  static constexpr uint64_t kReadOnlyMask = (uint64_t{1} << 12) | (uint64_t{1} << 14);
};

class IoapicId : public reg::Register<IoapicId, 32> {
 public:
  IRQVIRT_REGISTER("IoapicId");
  IRQVIRT_RESERVED(23, 0);
  IRQVIRT_FIELD(27, 24, id);  // IOAPIC ID. 82093AA §3.2.1
  IRQVIRT_RESERVED(31, 28);
};

class IoapicVersion : public reg::Register<IoapicVersion, 32> {
 public:
  IRQVIRT_REGISTER("IoapicVersion");
  IRQVIRT_FIELD(7, 0, version);            // 0x11 (82093AA) or 0x20 (with EOI register). §3.2.2
  IRQVIRT_RESERVED(14, 8);
  IRQVIRT_FIELD(15, 15, prq);              // pin assertion register (IO_APIC_reg_01.PRQ)
  IRQVIRT_FIELD(23, 16, max_redir_entry);  // number of pins - 1
  IRQVIRT_RESERVED(31, 24);
};

class IoapicArbitration : public reg::Register<IoapicArbitration, 32> {
 public:
  IRQVIRT_REGISTER("IoapicArbitration");
  IRQVIRT_RESERVED(23, 0);
  IRQVIRT_FIELD(27, 24, arbitration_id);  // IOAPIC arbitration ID. §3.2.3
  IRQVIRT_RESERVED(31, 28);
};

static_assert(reg::LayoutIsComplete<IoapicRedirectionEntry>());
static_assert(reg::LayoutIsComplete<IoapicId>());
static_assert(reg::LayoutIsComplete<IoapicVersion>());
static_assert(reg::LayoutIsComplete<IoapicArbitration>());

}  // namespace hw::x86

#endif  // IRQVIRT_HW_X86_IOAPIC_REGS_H_
