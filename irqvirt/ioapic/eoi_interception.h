// SPDX-License-Identifier: MIT
// Per-vCPU EOI interception sets for an emulated I/O APIC.
//
// A vCPU's EOI of vector v must reach the I/O APIC when (1) the vCPU is a destination of an entry
// that needs the EOI (level-triggered, or with an ack notifier) with vector v, or (2) v is still in
// the vCPU's IRR/ISR from an *old* routing — the entry was re-routed while the interrupt was in
// flight, and without the EOI its Remote IRR would stay set forever (KVM 0fc5a36dd6b3; edge
// interrupts with ack notifiers, db2bdcbbbd32). Case (2) is "stale": for each vCPU the highest
// stale vector is remembered, and when its EOI is intercepted a rescan is requested so the vCPU
// stops intercepting a vector it no longer needs (KVM 87e4951e250b,
// highest_stale_pending_ioapic_eoi).
//
// Not thread-safe: the owner (Ioapic) guards it with its lock.
#ifndef IRQVIRT_IRQVIRT_IOAPIC_EOI_INTERCEPTION_H_
#define IRQVIRT_IRQVIRT_IOAPIC_EOI_INTERCEPTION_H_

#include <bitset>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "hw/lapic_bus.h"

namespace irqvirt::ioapic {

// The part of a routing entry that decides who must report EOIs.
struct EoiRoute {
  uint8_t vector;
  uint32_t dest;
  bool logical;
};

class EoiInterception {
 public:
  explicit EoiInterception(int num_vcpus)
      : vcpus_(static_cast<size_t>(num_vcpus)) {}

  int num_vcpus() const { return static_cast<int>(vcpus_.size()); }

  bool Intercepts(int vcpu, uint8_t vector) const { return vcpus_[vcpu].handled.test(vector); }
  const std::bitset<256>& handled(int vcpu) const { return vcpus_[vcpu].handled; }
  int highest_stale(int vcpu) const { return vcpus_[vcpu].highest_stale; }
  bool rescan_requested(int vcpu) const { return vcpus_[vcpu].rescan_requested; }

  void RequestRescan(int vcpu) { vcpus_[vcpu].rescan_requested = true; }
  void RequestRescanAll() {
    for (VcpuState& v : vcpus_) v.rescan_requested = true;
  }

  // Recomputes vCPU `vcpu`'s set from `routes` (entries that need EOIs) and its LAPIC state.
  void Rescan(int vcpu, absl::Span<const EoiRoute> routes, const hw::LapicBus& lapics) {
    VcpuState& v = vcpus_[vcpu];
    v.handled.reset();
    v.highest_stale = -1;
    v.rescan_requested = false;
    for (const EoiRoute& r : routes) {
      if (lapics.MatchesDestination(vcpu, r.dest, r.logical)) {
        v.handled.set(r.vector);
      } else if (lapics.PendingEoi(vcpu, r.vector)) {
        v.handled.set(r.vector);
        if (r.vector > v.highest_stale) v.highest_stale = r.vector;
      }
    }
  }

  // The guest on `vcpu` EOI'd `vector`. Returns whether the EOI is intercepted (must go to the
  // I/O APIC); requests a rescan when it was the highest stale vector.
  bool OnEoi(int vcpu, uint8_t vector) {
    VcpuState& v = vcpus_[vcpu];
    if (!v.handled.test(vector)) return false;
    ++v.intercepted[vector];
    if (vector == v.highest_stale) v.rescan_requested = true;
    return true;
  }

  uint64_t intercepted(int vcpu, uint8_t vector) const { return vcpus_[vcpu].intercepted[vector]; }

  // One vCPU's whole state, for save/restore (the owner validates a restored one).
  struct VcpuState {
    std::bitset<256> handled;
    int highest_stale = -1;
    bool rescan_requested = true;  // the first entry computes the set
    uint64_t intercepted[256] = {};
  };
  const VcpuState& state(int vcpu) const { return vcpus_[vcpu]; }
  void set_state(int vcpu, const VcpuState& s) { vcpus_[vcpu] = s; }

 private:
  std::vector<VcpuState> vcpus_;
};

}  // namespace irqvirt::ioapic

#endif  // IRQVIRT_IRQVIRT_IOAPIC_EOI_INTERCEPTION_H_
