// SPDX-License-Identifier: MIT
// Test harness: an Ioapic wired to fake LAPICs (whose guest EOIs go through OnLapicEoi, as a
// hypervisor's EOI exit would, recording whether each was intercepted) and a fake timer, with
// register helpers that speak MMIO only.
#ifndef IRQVIRT_TESTS_IOAPIC_IOAPIC_HARNESS_H_
#define IRQVIRT_TESTS_IOAPIC_IOAPIC_HARNESS_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "hw/fake/fake_lapics.h"
#include "hw/x86/ioapic_regs.h"
#include "irqvirt/ioapic/ioapic.h"

namespace irqvirt::testing {

using hw::x86::IoapicDeliveryMode;
using hw::x86::IoapicRedirectionEntry;

struct RteSpec {
  uint8_t vector = 0;
  bool level = false;
  uint8_t dest = 0;
  bool logical = false;
  bool masked = false;
  IoapicDeliveryMode mode = IoapicDeliveryMode::kFixed;
};

inline IoapicRedirectionEntry MakeRte(const RteSpec& s) {
  return IoapicRedirectionEntry()
      .set_vector(s.vector)
      .set_trigger_mode(s.level)
      .set_destination(s.dest)
      .set_dest_mode(s.logical)
      .set_mask(s.masked)
      .set_delivery_mode(static_cast<uint64_t>(s.mode));
}

class IoapicHarness {
 public:
  explicit IoapicHarness(int vcpus = 4, ioapic::IoapicOptions options = {}) : lapics(vcpus) {
    auto io = ioapic::Ioapic::Create(lapics, timer, options);
    if (!io.ok()) std::abort();
    ioapic = std::move(*io);
    lapics.set_eoi_listener([this](int vcpu, uint8_t vector, bool level) {
      const bool intercepted = ioapic->OnLapicEoi(vcpu, vector, level);
      last_eoi_intercepted = intercepted;
      ++(intercepted ? eois_intercepted : eois_not_intercepted);
    });
  }

  // Dword accesses, as Linux's io_apic_read/io_apic_write do.
  uint32_t Read(uint8_t sel) {
    ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
    return static_cast<uint32_t>(ioapic->MmioRead(hw::x86::kIoapicWindow, 4));
  }
  void Write(uint8_t sel, uint32_t value) {
    ioapic->MmioWrite(hw::x86::kIoapicRegSel, 4, sel);
    ioapic->MmioWrite(hw::x86::kIoapicWindow, 4, value);
  }
  // Like Linux: high dword first, then the low dword (which carries the mask).
  void SetRte(int pin, const RteSpec& s) {
    const uint64_t raw = MakeRte(s).raw();
    Write(static_cast<uint8_t>(0x11 + 2 * pin), static_cast<uint32_t>(raw >> 32));
    Write(static_cast<uint8_t>(0x10 + 2 * pin), static_cast<uint32_t>(raw));
  }
  IoapicRedirectionEntry ReadRte(int pin) {
    const uint64_t lo = Read(static_cast<uint8_t>(0x10 + 2 * pin));
    const uint64_t hi = Read(static_cast<uint8_t>(0x11 + 2 * pin));
    return IoapicRedirectionEntry::FromRaw(lo | (hi << 32));
  }
  void SetMask(int pin, bool masked) {
    IoapicRedirectionEntry e = ReadRte(pin);
    e.set_mask(masked);
    Write(static_cast<uint8_t>(0x10 + 2 * pin), static_cast<uint32_t>(e.raw()));
  }
  void Line(int pin, bool level) {
    if (!ioapic->SetIrq(pin, level).ok()) std::abort();
  }

  hw::fake::FakeLapics lapics;
  hw::fake::FakeTimer timer;
  std::unique_ptr<ioapic::Ioapic> ioapic;
  // OnLapicEoi's answers to the guest's EOIs: whether the hypervisor's EOI exit would be taken.
  std::optional<bool> last_eoi_intercepted;  // empty until the guest EOIs
  uint64_t eois_intercepted = 0;
  uint64_t eois_not_intercepted = 0;
};

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_IOAPIC_IOAPIC_HARNESS_H_
