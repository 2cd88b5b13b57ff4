// SPDX-License-Identifier: MIT
// The 4 KiB virtual APIC page (AMD AVIC backing page, or a software LAPIC's register page).
// Layout from the standard local APIC register map (Intel SDM vol. 3 §11.4.1 Table 11-1; Linux
// arch/x86/include/asm/apicdef.h): each 256-bit register (ISR, TMR, IRR) is eight 32-bit words at
// a 16-byte stride, so vector v is bit (v % 32) of the word at base + 0x10 * (v / 32).
//
// The IOMMU writes IRR bits while the hypervisor reads them, so every access is an atomic on the
// 32-bit word (std::atomic_ref); nothing here allocates, locks or throws.
#ifndef IRQVIRT_HW_X86_VAPIC_PAGE_H_
#define IRQVIRT_HW_X86_VAPIC_PAGE_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace hw::x86 {

// Offsets of the 256-bit vector registers.
enum class ApicVectorReg : uint32_t {
  kIsr = 0x100,
  kTmr = 0x180,
  kIrr = 0x200,
};

inline constexpr uint32_t kApicTprOffset = 0x080;
inline constexpr uint32_t kApicEoiOffset = 0x0b0;
inline constexpr uint32_t kApicVectorRegStride = 0x10;
inline constexpr size_t kVapicPageSize = 4096;

// Byte offset of the 32-bit word holding `vector` in `reg` (KVM REG_POS).
constexpr uint32_t VectorWordOffset(ApicVectorReg reg, uint8_t vector) {
  return static_cast<uint32_t>(reg) + kApicVectorRegStride * (vector >> 5);
}
// Bit of `vector` within its word (KVM VEC_POS).
constexpr uint32_t VectorBit(uint8_t vector) { return vector & 31u; }

// A non-owning view of a 4 KiB-aligned vAPIC page.
class VapicPage {
 public:
  explicit VapicPage(void* page) : base_(static_cast<uint8_t*>(page)) {}

  uint8_t* data() const { return base_; }

  bool Test(ApicVectorReg reg, uint8_t vector) const {
    return (Word(reg, vector >> 5).load(std::memory_order_acquire) >> VectorBit(vector)) & 1;
  }
  // Sets the bit; returns whether it was already set.
  bool Set(ApicVectorReg reg, uint8_t vector) const {
    const uint32_t bit = 1u << VectorBit(vector);
    return Word(reg, vector >> 5).fetch_or(bit, std::memory_order_acq_rel) & bit;
  }
  // Clears the bit; returns whether it was set.
  bool Clear(ApicVectorReg reg, uint8_t vector) const {
    const uint32_t bit = 1u << VectorBit(vector);
    return Word(reg, vector >> 5).fetch_and(~bit, std::memory_order_acq_rel) & bit;
  }
  // Highest set vector in `reg`, or -1 when none is set.
  int Highest(ApicVectorReg reg) const {
    for (int n = 7; n >= 0; --n) {
      const uint32_t w = Word(reg, n).load(std::memory_order_acquire);
      if (w != 0) return n * 32 + (31 - std::countl_zero(w));
    }
    return -1;
  }
  bool Any(ApicVectorReg reg) const {
    uint32_t any = 0;
    for (int n = 0; n < 8; ++n) any |= Word(reg, n).load(std::memory_order_acquire);
    return any != 0;
  }
  void StoreWord(ApicVectorReg reg, int n, uint32_t value) const {
    Word(reg, n).store(value, std::memory_order_release);
  }

 private:
  std::atomic_ref<uint32_t> Word(ApicVectorReg reg, int n) const {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(
        base_ + static_cast<uint32_t>(reg) + kApicVectorRegStride * n));
  }

  uint8_t* base_;
};

}  // namespace hw::x86

#endif  // IRQVIRT_HW_X86_VAPIC_PAGE_H_
