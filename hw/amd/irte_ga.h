// SPDX-License-Identifier: MIT
// AMD IOMMU 128-bit interrupt remapping table entry (GA format, Control.GAEn = 1), in its two
// views: remapped (GuestMode = 0) and guest virtual APIC (GuestMode = 1).
// Sources: AMD I/O Virtualization Technology (IOMMU) Specification 48882, §2.2.5.2
// "Interrupt Remapping Table Entry (IRTE) for GA mode"; Linux drivers/iommu/amd/amd_iommu_types.h
// (union irte_ga_lo / irte_ga_hi); GAPPIDis from the GAPPI RFC v3 (not upstream).
#ifndef IRQVIRT_HW_AMD_IRTE_GA_H_
#define IRQVIRT_HW_AMD_IRTE_GA_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

// IntType values (x86 delivery modes) for the remapped view.
enum class IrteIntType : uint8_t { kFixed = 0, kArbitrated = 1 };

// Both views split the 32-bit destination APIC ID: bits 23:0 at 31:8, bits 31:24 at 127:120.
template <typename Derived>
class IrteGaBase : public reg::Register<Derived, 128> {
 public:
  constexpr uint32_t destination() const {
    const Derived& d = static_cast<const Derived&>(*this);
    return static_cast<uint32_t>(d.destination_lo() | (d.destination_hi() << 24));
  }
  constexpr Derived& set_destination(uint32_t apic_id) {
    Derived& d = static_cast<Derived&>(*this);
    d.set_destination_lo(apic_id & 0xffffff);
    d.set_destination_hi(apic_id >> 24);
    return d;
  }
};

// Remapped view: the IOMMU delivers `vector` to `destination` as a physical interrupt.
class IrteGaRemapped : public IrteGaBase<IrteGaRemapped> {
 public:
  IRQVIRT_REGISTER("IrteGaRemapped");
  IRQVIRT_FIELD(0, 0, valid);             // RemapEn. 48882 §2.2.5.2
  IRQVIRT_FIELD(1, 1, no_fault);          // SupIOPF: suppress I/O page faults
  IRQVIRT_FIELD(4, 2, int_type);          // IntType (IrteIntType)
  IRQVIRT_FIELD(5, 5, rq_eoi);            // RqEoi
  IRQVIRT_FIELD(6, 6, dest_mode);         // DM: 0 physical, 1 logical
  IRQVIRT_FIELD(7, 7, guest_mode);        // GuestMode = 0 in this view
  IRQVIRT_FIELD(31, 8, destination_lo);   // Destination[23:0]
  IRQVIRT_RESERVED(63, 32);               // GATag is meaningful only in guest mode
  IRQVIRT_FIELD(71, 64, vector);          // host vector
  IRQVIRT_RESERVED(119, 72);              // root pointer is meaningful only in guest mode
  IRQVIRT_FIELD(127, 120, destination_hi);  // Destination[31:24] (XTEn)
};

// Guest virtual APIC view: the IOMMU sets `vector` in the vAPIC backing page's IRR and, with
// IsRun, rings the doorbell of `destination`; without IsRun it logs or sends GAPPI.
class IrteGaGuest : public IrteGaBase<IrteGaGuest> {
 public:
  IRQVIRT_REGISTER("IrteGaGuest");
  IRQVIRT_FIELD(0, 0, valid);             // RemapEn. 48882 §2.2.5.2
  IRQVIRT_FIELD(1, 1, no_fault);          // SupIOPF
  IRQVIRT_FIELD(2, 2, ga_log_intr);       // GALogIntr: log + GA-log IRQ when IsRun = 0
  IRQVIRT_RESERVED(4, 3);                 // GAPPI RFC v3 narrows rsvd1 to bits 4:3
  IRQVIRT_FIELD(5, 5, gappi_dis);  // GAPPIDis: GAPPI RFC v3 patch 4/6 (not upstream), EFR2.GAPPIDisSup
  IRQVIRT_FIELD(6, 6, is_run);            // IsRun: vCPU running at `destination`
  IRQVIRT_FIELD(7, 7, guest_mode);        // GuestMode = 1 in this view
  IRQVIRT_FIELD(31, 8, destination_lo);   // host APIC ID[23:0] of the pCPU
  IRQVIRT_FIELD(63, 32, ga_tag);          // GATag, copied into the GA log; GAPPI vector in [7:0]
  IRQVIRT_FIELD(71, 64, vector);          // guest vector
  IRQVIRT_RESERVED(75, 72);
  IRQVIRT_FIELD(115, 76, ga_root_ptr);    // vAPIC backing page PA >> 12
  IRQVIRT_RESERVED(119, 116);
  IRQVIRT_FIELD(127, 120, destination_hi);  // host APIC ID[31:24]
};

static_assert(reg::LayoutIsComplete<IrteGaRemapped>());
static_assert(reg::LayoutIsComplete<IrteGaGuest>());

// GuestMode (bit 7) selects the view; it sits at the same place in both.
constexpr bool IrteGaIsGuestMode(uint64_t lo) { return (lo >> 7) & 1; }

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_IRTE_GA_H_
