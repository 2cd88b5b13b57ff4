// SPDX-License-Identifier: MIT
// The local-APIC side of I/O APIC emulation: what the emulated I/O APIC needs from the vCPUs'
// local APICs. The embedder implements it over its LAPIC emulation (or AVIC/APICv pages);
// hw/fake/fake_lapics.h implements it with a guest model for tests.
#ifndef IRQVIRT_HW_LAPIC_BUS_H_
#define IRQVIRT_HW_LAPIC_BUS_H_

#include <cstdint>

#include "hw/x86/ioapic_regs.h"

namespace hw {

class LapicBus {
 public:
  virtual ~LapicBus() = default;

  virtual int num_vcpus() const = 0;
  // Whether vCPU `vcpu`'s local APIC accepts an interrupt addressed to `dest` in physical
  // (`logical` = false; 0xff is broadcast) or logical destination mode, per its APIC ID / LDR / DFR.
  virtual bool MatchesDestination(int vcpu, uint32_t dest, bool logical) const = 0;
  // Accepts `vector` into IRR (fixed / lowest priority), setting TMR for level-triggered and
  // clearing it for edge; NMI/SMI/INIT/ExtINT ignore the vector. Returns false when the LAPIC
  // rejects it (e.g. an illegal vector below 16 in fixed mode).
  virtual bool Deliver(int vcpu, uint8_t vector, bool level, x86::IoapicDeliveryMode mode) = 0;
  // Whether `vector` is still in the vCPU's IRR or ISR (an EOI for it may still come).
  virtual bool PendingEoi(int vcpu, uint8_t vector) const = 0;
};

// One-shot timer used by the I/O APIC's interrupt-storm guard.
class OneShotTimer {
 public:
  virtual ~OneShotTimer() = default;
  // (Re)arms the timer; when it fires the embedder calls the owner's timer callback.
  virtual void Arm(uint64_t delay_ns) = 0;
  virtual void Cancel() = 0;
};

}  // namespace hw

#endif  // IRQVIRT_HW_LAPIC_BUS_H_
