// SPDX-License-Identifier: MIT
// Intel VT-d posted-interrupt descriptor (64 bytes, 64-byte aligned).
// Sources: Intel VT-d specification §9.11 "Posted Interrupt Descriptor"; Linux
// arch/x86/include/asm/posted_intr.h (struct pi_desc, POSTED_INTR_ON/SN); Xen PI_xAPIC_NDST_MASK.
#ifndef IRQVIRT_HW_INTEL_PI_DESC_H_
#define IRQVIRT_HW_INTEL_PI_DESC_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "hw/reg/register.h"

namespace hw::intel {

// Bytes 32..39 of the descriptor; always updated as one 64-bit compare-and-swap because the
// IOMMU sets ON at any time.
class PiControl : public reg::Register<PiControl, 64> {
 public:
  IRQVIRT_REGISTER("PiControl");
  IRQVIRT_FIELD(0, 0, on);     // Outstanding Notification (absolute bit 256)
  IRQVIRT_FIELD(1, 1, sn);     // Suppress Notification (absolute bit 257)
  IRQVIRT_RESERVED(15, 2);
  IRQVIRT_FIELD(23, 16, nv);   // Notification Vector (byte 34)
  IRQVIRT_RESERVED(31, 24);
  IRQVIRT_FIELD(63, 32, ndst); // Notification Destination (bytes 36..39)

  // NDST encodings: xAPIC mode puts the 8-bit APIC ID in bits 15:8; x2APIC uses all 32 bits.
  static constexpr uint32_t NdstForXapic(uint8_t apic_id) { return uint32_t{apic_id} << 8; }
  static constexpr uint32_t NdstForX2apic(uint32_t apic_id) { return apic_id; }
  constexpr uint32_t destination_apic_id(bool x2apic) const {
    return x2apic ? static_cast<uint32_t>(ndst()) : static_cast<uint32_t>((ndst() >> 8) & 0xff);
  }
};

static_assert(reg::LayoutIsComplete<PiControl>());

struct alignas(64) PiDesc {
  uint32_t pir[8];     // Posted Interrupt Requests, one bit per vector (bits 255:0)
  uint64_t control;    // PiControl
  uint32_t reserved[6];

  bool PirTest(uint8_t vector) const {
    return (std::atomic_ref<uint32_t>(const_cast<uint32_t&>(pir[vector >> 5])).load(std::memory_order_acquire) >>
            (vector & 31)) & 1;
  }
  // Atomically sets the PIR bit; returns whether it was set already.
  bool PirSet(uint8_t vector) {
    const uint32_t bit = 1u << (vector & 31);
    return std::atomic_ref<uint32_t>(pir[vector >> 5]).fetch_or(bit, std::memory_order_acq_rel) &
           bit;
  }
  bool PirEmpty() const {
    uint32_t any = 0;
    for (const uint32_t& w : pir) {
      any |= std::atomic_ref<uint32_t>(const_cast<uint32_t&>(w)).load(std::memory_order_acquire);
    }
    return any == 0;
  }
  PiControl LoadControl() const {
    return PiControl::FromRaw(
        std::atomic_ref<uint64_t>(const_cast<uint64_t&>(control)).load(std::memory_order_acquire));
  }
  // One CAS on the whole control word; on failure `expected` holds the current value.
  bool CompareExchangeControl(PiControl& expected, PiControl desired) {
    uint64_t raw = expected.raw();
    const bool ok = std::atomic_ref<uint64_t>(control).compare_exchange_strong(
        raw, desired.raw(), std::memory_order_acq_rel, std::memory_order_acquire);
    expected = PiControl::FromRaw(raw);
    return ok;
  }
};

static_assert(sizeof(PiDesc) == 64);
static_assert(offsetof(PiDesc, control) == 32);

}  // namespace hw::intel

#endif  // IRQVIRT_HW_INTEL_PI_DESC_H_
