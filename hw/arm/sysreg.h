// SPDX-License-Identifier: MIT
// AArch64 system-register encodings (op0, op1, CRn, CRm, op2), as MRS/MSR name them, and the
// generic accessor concept the GIC backends move registers through. A backend is templated on
// its accessor, so the code that runs against the fake in tests is the code shipped on aarch64.
#ifndef IRQVIRT_HW_ARM_SYSREG_H_
#define IRQVIRT_HW_ARM_SYSREG_H_

#include <concepts>
#include <cstdint>

namespace hw::arm {

struct SysRegEncoding {
  uint8_t op0, op1, crn, crm, op2;

  // The 16-bit key o0:op1:CRn:CRm:op2 laid out as in the MRS/MSR instruction's bits 20:5
  // (Arm ARM C5.1.2, "op0" there is encoded as o0 = op0 - 2 in bit 19).
  constexpr uint32_t key() const {
    return (uint32_t{op0} << 14) | (uint32_t{op1} << 11) | (uint32_t{crn} << 7) |
           (uint32_t{crm} << 3) | op2;
  }
  friend constexpr bool operator==(SysRegEncoding a, SysRegEncoding b) { return a.key() == b.key(); }
};

// Reads and writes 64-bit system registers by encoding. Implementations: the aarch64
// mrs/msr accessor (gicv3_sysreg_accessor.h) and the fake GIC's register file in tests.
template <typename A>
concept SysRegAccessor = requires(A& a, SysRegEncoding e, uint64_t v) {
  { a.Read(e) } -> std::same_as<uint64_t>;
  { a.Write(e, v) } -> std::same_as<void>;
};

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_SYSREG_H_
