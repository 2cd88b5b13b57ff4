// SPDX-License-Identifier: MIT
// Tear-free access to a 16-byte IRTE (AMD GA format, Intel VT-d). The IOMMU may read an entry at
// any moment, so a 128-bit entry is replaced by one 16-byte compare-and-swap (x86-64 CMPXCHG16B;
// Linux modify_irte_ga and the VT-d modify_irte use try_cmpxchg128) and read by one 16-byte atomic
// load. No lock, no allocation: safe with interrupts off.
#ifndef IRQVIRT_HW_IRTE_ATOMIC_H_
#define IRQVIRT_HW_IRTE_ATOMIC_H_

#include <cstdint>

namespace hw {

struct IrteWords {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const IrteWords&, const IrteWords&) = default;
};

#if defined(__x86_64__)
// If *slot == expected, stores desired and returns true; otherwise loads *slot into expected.
// `slot` must be 16-byte aligned.
inline bool IrteCompareExchange(IrteWords* slot, IrteWords& expected, IrteWords desired) {
  bool ok;
  asm volatile("lock cmpxchg16b %[mem]"
               : [mem] "+m"(*slot), "=@ccz"(ok), "+a"(expected.lo), "+d"(expected.hi)
               : "b"(desired.lo), "c"(desired.hi)
               : "memory");
  return ok;
}
#else
#error "irqvirt's IOMMU backends need a 16-byte compare-and-swap (x86-64)"
#endif

// A 16-byte atomic load: a compare-and-swap that never matches (or matches and rewrites the same
// value), which is how x86-64 reads 16 bytes atomically without AVX guarantees.
inline IrteWords IrteLoad(IrteWords* slot) {
  IrteWords seen{};
  IrteCompareExchange(slot, seen, seen);
  return seen;
}

}  // namespace hw

// The AMD backend's spelling, from before the VT-d backend shared these.
namespace hw::amd {
using ::hw::IrteCompareExchange;
using ::hw::IrteLoad;
using ::hw::IrteWords;
}  // namespace hw::amd

#endif  // IRQVIRT_HW_IRTE_ATOMIC_H_
