// SPDX-License-Identifier: MIT
// Vendor-neutral "does this blocked vCPU have an interrupt waiting?" checks, used by the wakeup
// handler for every parked vCPU it scans. Each is a few loads, allocation- and lock-free.
#ifndef IRQVIRT_IRQVIRT_WAKEUP_PENDING_H_
#define IRQVIRT_IRQVIRT_WAKEUP_PENDING_H_

#include <concepts>
#include <cstdint>

#include "hw/intel/pi_desc.h"
#include "hw/x86/vapic_page.h"

namespace irqvirt::wakeup {

template <typename C>
concept PendingCheck = requires(const typename C::State* s) {
  { C::HasPending(s) } -> std::same_as<bool>;
  { C::Prefetch(s) } -> std::same_as<void>;
};

// AMD AVIC: the IOMMU sets the vector in the IRR of the vCPU's vAPIC backing page, so any set
// IRR bit means an interrupt is waiting. State is the 4 KiB backing page.
struct VapicIrrPending {
  using State = uint8_t;

  static bool HasPending(const State* page) {
    return hw::x86::VapicPage(const_cast<State*>(page)).Any(hw::x86::ApicVectorReg::kIrr);
  }
  // The eight IRR words span two cache lines (0x200..0x27f).
  static void Prefetch(const State* page) {
    __builtin_prefetch(page + 0x200);
    __builtin_prefetch(page + 0x240);
  }
};

// Intel VT-d PI: the IOMMU sets PIR and then ON; with SN set it sets PIR only. KVM's
// pi_has_pending_interrupt: ON, or SN with a non-empty PIR.
struct PiDescPending {
  using State = hw::intel::PiDesc;

  static bool HasPending(const State* desc) {
    const hw::intel::PiControl c = desc->LoadControl();
    return c.on() != 0 || (c.sn() != 0 && !desc->PirEmpty());
  }
  static void Prefetch(const State* desc) { __builtin_prefetch(desc); }
};

static_assert(PendingCheck<VapicIrrPending>);
static_assert(PendingCheck<PiDescPending>);

}  // namespace irqvirt::wakeup

#endif  // IRQVIRT_IRQVIRT_WAKEUP_PENDING_H_
