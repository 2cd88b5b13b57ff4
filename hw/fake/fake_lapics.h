// SPDX-License-Identifier: MIT
// Fake local APICs with a guest model, implementing hw::LapicBus. Each vCPU has a real 4 KiB
// APIC register page (IRR/ISR/TMR at their architectural offsets), an APIC ID (= vCPU index
// unless set) and a flat-model logical ID (1 << vCPU for the first eight). Acknowledge follows the
// local APIC's priority rules: the highest IRR vector is taken only if its priority class is above
// the processor priority (PPR, from TPR and the highest in-service vector), so a higher class
// nests over one in service and a lower or equal class waits for its EOI. EOI clears the highest
// in-service vector and is passed, with its TMR bit, to the listener the test installs (the
// hypervisor's EOI path). RunGuest plays a guest that takes interrupts with handlers, nesting
// when a handler re-enables interrupts, so a story needs no hand-sequenced acknowledges.
// A OneShotTimer fake is included for the I/O APIC storm guard.
#ifndef IRQVIRT_HW_FAKE_FAKE_LAPICS_H_
#define IRQVIRT_HW_FAKE_FAKE_LAPICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hw/lapic_bus.h"
#include "hw/x86/vapic_page.h"

namespace hw::fake {

class FakeLapics : public LapicBus {
 public:
  using EoiListener = std::function<void(int vcpu, uint8_t vector, bool level)>;
  // A guest interrupt handler; it runs between the acknowledge and the EOI of `vector`.
  using GuestHandler = std::function<void(int vcpu, uint8_t vector)>;

  explicit FakeLapics(int num_vcpus);

  // --- LapicBus ---
  int num_vcpus() const override { return static_cast<int>(vcpus_.size()); }
  bool MatchesDestination(int vcpu, uint32_t dest, bool logical) const override;
  bool Deliver(int vcpu, uint8_t vector, bool level, x86::IoapicDeliveryMode mode) override;
  bool PendingEoi(int vcpu, uint8_t vector) const override;

  // --- guest model ---
  // Moves the highest IRR vector to ISR and returns it, or -1 when nothing is pending or its
  // priority class is not above PPR's (masked by TPR or by an in-service vector of that class or
  // above). Intel SDM vol. 3 §11.8.3.1 / §11.8.4; AMD APM vol. 2 §16.6.
  int Acknowledge(int vcpu);
  // EOIs the highest in-service vector (no-op when none) and tells the listener. Returns it or -1.
  // (SDM vol. 3 §11.8.5: the EOI retires the highest-priority ISR bit.)
  int Eoi(int vcpu);
  // The guest runs with interrupts enabled: takes every interrupt Acknowledge lets through, calls
  // `handler` for it, then EOIs it. A handler that calls RunGuest again (re-enables interrupts)
  // nests: only classes above the one it serves get through. Stops after `max_handlers` (a held
  // level line the handler never quiets re-delivers on every EOI). Returns the handlers run.
  int RunGuest(int vcpu, const GuestHandler& handler, int max_handlers = 1000);
  // Task Priority Register (bits 7:4 class, 3:0 sub-class), as the guest writes it.
  void set_tpr(int vcpu, uint8_t tpr);
  uint8_t tpr(int vcpu) const;
  // Processor Priority Register: TPR if its class is at least the highest in-service vector's,
  // else that vector's class with sub-class 0 (SDM vol. 3 §11.8.3.1; AMD APM vol. 2 §16.6).
  uint8_t ppr(int vcpu) const;
  // Another source (MSI, IPI) raising `vector` directly at the LAPIC, edge-triggered.
  void RaiseDirect(int vcpu, uint8_t vector) { Deliver(vcpu, vector, false, x86::IoapicDeliveryMode::kFixed); }
  void set_eoi_listener(EoiListener l) { eoi_listener_ = std::move(l); }
  void set_apic_id(int vcpu, uint32_t id) { vcpus_[vcpu].apic_id = id; }
  void set_logical_id(int vcpu, uint8_t ldr) { vcpus_[vcpu].logical_id = ldr; }
  // Migration of the LAPICs: copies every vCPU's page (IRR/ISR/TMR/TPR), IDs and counters from
  // `other` (same vCPU count); the EOI listener stays this object's.
  void CopyStateFrom(const FakeLapics& other);

  // --- observations ---
  x86::VapicPage page(int vcpu) const { return x86::VapicPage(vcpus_[vcpu].page->bytes); }
  bool irr(int vcpu, uint8_t v) const { return page(vcpu).Test(x86::ApicVectorReg::kIrr, v); }
  bool isr(int vcpu, uint8_t v) const { return page(vcpu).Test(x86::ApicVectorReg::kIsr, v); }
  bool tmr(int vcpu, uint8_t v) const { return page(vcpu).Test(x86::ApicVectorReg::kTmr, v); }
  // Interrupts accepted by vCPU `vcpu` with `vector` since construction.
  uint64_t deliveries(int vcpu, uint8_t vector) const { return vcpus_[vcpu].deliveries[vector]; }
  uint64_t total_deliveries() const { return total_deliveries_; }
  uint64_t rejected() const { return rejected_; }
  uint64_t nmis(int vcpu) const { return vcpus_[vcpu].nmis; }

 private:
  struct alignas(4096) Page {
    uint8_t bytes[4096];
  };
  struct Vcpu {
    std::unique_ptr<Page> page;
    uint32_t apic_id = 0;
    uint8_t logical_id = 0;
    uint64_t deliveries[256] = {};
    uint64_t nmis = 0;
  };

  std::vector<Vcpu> vcpus_;
  EoiListener eoi_listener_;
  uint64_t total_deliveries_ = 0;
  uint64_t rejected_ = 0;
};

class FakeTimer : public OneShotTimer {
 public:
  void Arm(uint64_t delay_ns) override {
    armed_ = true;
    last_delay_ns_ = delay_ns;
    ++arm_count_;
  }
  void Cancel() override { armed_ = false; }
  bool armed() const { return armed_; }
  uint64_t last_delay_ns() const { return last_delay_ns_; }
  uint64_t arm_count() const { return arm_count_; }
  // The test fires the timer: clears `armed` and returns whether it was armed.
  bool Fire() {
    const bool was = armed_;
    armed_ = false;
    return was;
  }

 private:
  bool armed_ = false;
  uint64_t last_delay_ns_ = 0;
  uint64_t arm_count_ = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_LAPICS_H_
