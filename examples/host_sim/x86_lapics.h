// SPDX-License-Identifier: MIT
// The local-APIC side of one VM's I/O APIC (hw::LapicBus), implemented the way a hypervisor with
// AVIC does it: over the same vAPIC backing pages that the IOMMU posts MSIs into. APIC ID =
// vCPU index (physical destination mode), flat logical ID = 1 << index for the first eight.
// Deliver runs under the I/O APIC's lock: it only sets IRR/TMR and tells the host that the vCPU
// has something to take (the host kicks or wakes it later, never calling back in from here).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_LAPICS_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_LAPICS_H_

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "hw/lapic_bus.h"
#include "hw/x86/ioapic_regs.h"
#include "hw/x86/vapic_page.h"

namespace host_sim {

class VapicLapics : public hw::LapicBus {
 public:
  // `pages[i]` is vCPU i's vAPIC backing page; `notify(i)` is called after IRR changed.
  VapicLapics(std::vector<uint8_t*> pages, std::function<void(int)> notify)
      : pages_(std::move(pages)), notify_(std::move(notify)) {}

  int num_vcpus() const override { return static_cast<int>(pages_.size()); }

  bool MatchesDestination(int vcpu, uint32_t dest, bool logical) const override {
    if (!logical) return dest == 0xff || dest == static_cast<uint32_t>(vcpu);
    return vcpu < 8 && (dest & (1u << vcpu)) != 0;
  }

  bool Deliver(int vcpu, uint8_t vector, bool level, hw::x86::IoapicDeliveryMode mode) override {
    if (mode != hw::x86::IoapicDeliveryMode::kFixed &&
        mode != hw::x86::IoapicDeliveryMode::kLowestPriority) {
      return true;  // the simulated guests program fixed delivery only
    }
    if (vector < 16) return false;  // illegal vector: the LAPIC rejects it
    const hw::x86::VapicPage page(pages_[vcpu]);
    page.Set(hw::x86::ApicVectorReg::kIrr, vector);
    if (level) {
      page.Set(hw::x86::ApicVectorReg::kTmr, vector);
    } else {
      page.Clear(hw::x86::ApicVectorReg::kTmr, vector);
    }
    notify_(vcpu);
    return true;
  }

  bool PendingEoi(int vcpu, uint8_t vector) const override {
    const hw::x86::VapicPage page(pages_[vcpu]);
    return page.Test(hw::x86::ApicVectorReg::kIrr, vector) ||
           page.Test(hw::x86::ApicVectorReg::kIsr, vector);
  }

 private:
  std::vector<uint8_t*> pages_;
  std::function<void(int)> notify_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_LAPICS_H_
