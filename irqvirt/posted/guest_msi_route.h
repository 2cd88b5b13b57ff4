// SPDX-License-Identifier: MIT
// Which guest MSIs can be posted, for either router (AMD PostedRouter, VtdPostedRouter): neither
// IOMMU posts one interrupt into several vCPUs, and only fixed / lowest-priority deliveries are
// interrupts a posted IRTE can carry (NMI, SMI, INIT, ExtINT are not).
//
// The rule is KVM's (kvm_pi_update_irte; ../shared/reference x86-posted-interrupts.md §7e):
// post only when the guest MSI has exactly one destination vCPU and is Fixed or LowestPriority;
// anything else is remapped to the host, which injects it in software. Xen instead posts a
// multi-destination lowest-priority MSI to one vCPU picked by vector hashing (§7f); we do not,
// because the guest asked for "any of these, the least busy" and a fixed pick by vector is a
// policy the embedder, who knows the vCPUs' load, should choose (it can pass one vCPU).
#ifndef IRQVIRT_IRQVIRT_POSTED_GUEST_MSI_ROUTE_H_
#define IRQVIRT_IRQVIRT_POSTED_GUEST_MSI_ROUTE_H_

#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/status.h"
#include "hw/x86/ioapic_regs.h"
#include "irqvirt/posted/route_error.h"

namespace irqvirt::posted {

// The guest MSI's delivery mode (MSI data bits 10:8): the x86 encoding the I/O APIC's
// redirection entries use too.
using GuestDeliveryMode = hw::x86::IoapicDeliveryMode;

// A guest MSI as the embedder decoded it: the vCPUs its destination (physical or logical,
// broadcast) selects, its delivery mode and vector.
struct GuestMsi {
  GuestDeliveryMode mode = GuestDeliveryMode::kFixed;
  std::span<const uint32_t> destinations;
  uint8_t vector = 0;
};

// Where the host takes the interrupt when it cannot be posted.
struct HostDelivery {
  uint8_t vector = 0;
  uint32_t apic_id = 0;
};

// The one vCPU the MSI may be posted to, or nullopt when it must be remapped.
inline std::optional<uint32_t> PostableVcpu(const GuestMsi& msi) {
  if (msi.mode != GuestDeliveryMode::kFixed && msi.mode != GuestDeliveryMode::kLowestPriority) {
    return std::nullopt;
  }
  if (msi.destinations.size() != 1) return std::nullopt;
  return msi.destinations[0];
}

// Posts the IRTE to the MSI's vCPU when it can be posted, else remaps it to the host.
template <typename Router>
absl::Status RouteGuestMsi(Router& router, IrteRef irte, const GuestMsi& msi,
                           const HostDelivery& host) {
  if (const std::optional<uint32_t> vcpu = PostableVcpu(msi)) {
    return router.Bind(irte, *vcpu, msi.vector);
  }
  return router.Remap(irte, host.vector, host.apic_id);
}

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_GUEST_MSI_ROUTE_H_
