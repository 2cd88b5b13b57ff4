// Fake local APICs with a guest model, implementing hw::LapicBus. Each vCPU has a real 4 KiB
// APIC register page (IRR/ISR/TMR at their architectural offsets), an APIC ID (= vCPU index
// unless set) and a flat-model logical ID (1 << vCPU for the first eight). The guest model
// acknowledges the highest pending vector (IRR -> ISR) and EOIs the highest in-service one; each
// EOI is passed, with its TMR bit, to the listener the test installs (the hypervisor's EOI path).
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

  explicit FakeLapics(int num_vcpus);

  // --- LapicBus ---
  int num_vcpus() const override { return static_cast<int>(vcpus_.size()); }
  bool MatchesDestination(int vcpu, uint32_t dest, bool logical) const override;
  bool Deliver(int vcpu, uint8_t vector, bool level, x86::IoapicDeliveryMode mode) override;
  bool PendingEoi(int vcpu, uint8_t vector) const override;

  // --- guest model ---
  // Moves the highest IRR vector to ISR and returns it, or -1 when nothing is pending.
  int Acknowledge(int vcpu);
  // EOIs the highest in-service vector (no-op when none) and tells the listener. Returns it or -1.
  int Eoi(int vcpu);
  // Another source (MSI, IPI) raising `vector` directly at the LAPIC, edge-triggered.
  void RaiseDirect(int vcpu, uint8_t vector) { Deliver(vcpu, vector, false, x86::IoapicDeliveryMode::kFixed); }
  void set_eoi_listener(EoiListener l) { eoi_listener_ = std::move(l); }
  void set_apic_id(int vcpu, uint32_t id) { vcpus_[vcpu].apic_id = id; }
  void set_logical_id(int vcpu, uint8_t ldr) { vcpus_[vcpu].logical_id = ldr; }

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
