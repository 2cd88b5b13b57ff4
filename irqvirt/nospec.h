// SPDX-License-Identifier: MIT
// Clamping a guest-controlled index after its bounds check (Spectre variant 1).
//
// A bounds check is a branch the CPU may predict wrongly; until it resolves, loads through an
// index the guest chose can run speculatively past the array and leave traces in the cache. So
// every guest-controlled index is passed through IndexNoSpec after the check that it is below
// `size`: the result equals `index` when the check held, and 0 otherwise, computed with
// arithmetic only (no branch to predict), the way Linux's array_index_nospec
// (include/linux/nospec.h) and the "bounds check bypass" mitigation in Intel's "Analyzing
// potential bounds check bypass vulnerabilities" (2018) describe.
//
//   if (intid >= num_intids) return;                 // the architectural check
//   intid = irqvirt::IndexNoSpec(intid, num_intids);  // then clamp before indexing
#ifndef IRQVIRT_IRQVIRT_NOSPEC_H_
#define IRQVIRT_IRQVIRT_NOSPEC_H_

#include <concepts>
#include <cstdint>

namespace irqvirt {

// All ones when index < size, zero otherwise, without a branch. Both operands are below 2^63
// in every use (sizes are table lengths), so the subtraction's sign bit is the comparison.
inline uint64_t IndexMaskNoSpec(uint64_t index, uint64_t size) {
  uint64_t below = index - size;  // sign bit set iff index < size (both < 2^63)
  // Keep the compiler from turning the arithmetic back into a compare-and-branch.
  asm("" : "+r"(below));
  // Arithmetic shift of the sign bit: all ones or zero.
  return static_cast<uint64_t>(static_cast<int64_t>(below & ~index) >> 63);
}

// `index` if index < size, else 0; use after the bounds check, before the array access.
template <std::unsigned_integral T, std::unsigned_integral S>
inline T IndexNoSpec(T index, S size) {
  return static_cast<T>(static_cast<uint64_t>(index) &
                        IndexMaskNoSpec(static_cast<uint64_t>(index), static_cast<uint64_t>(size)));
}

}  // namespace irqvirt

#endif  // IRQVIRT_IRQVIRT_NOSPEC_H_
