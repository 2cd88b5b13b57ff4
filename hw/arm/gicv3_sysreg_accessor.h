// SPDX-License-Identifier: MIT
// The real system-register accessor for the GICv3 backend: mrs/msr by encoding, for EL2 code
// on aarch64 (compiled only there). Each encoding the backend uses is a case, so the compiler
// emits one instruction per register; an encoding the backend never uses reads as zero.
#ifndef IRQVIRT_HW_ARM_GICV3_SYSREG_ACCESSOR_H_
#define IRQVIRT_HW_ARM_GICV3_SYSREG_ACCESSOR_H_

#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/sysreg.h"

#if defined(__aarch64__)

namespace hw::arm {

// S<op0>_<op1>_C<CRn>_C<CRm>_<op2> is the generic system-register name the assembler accepts.
#define IRQVIRT_ICH_SYSREGS(X)                                                              \
  X(3, 4, 12, 11, 0) X(3, 4, 12, 11, 1) X(3, 4, 12, 11, 2) X(3, 4, 12, 11, 3)             \
  X(3, 4, 12, 11, 5) X(3, 4, 12, 11, 7) X(3, 4, 12, 8, 0) X(3, 4, 12, 8, 1)               \
  X(3, 4, 12, 8, 2) X(3, 4, 12, 8, 3) X(3, 4, 12, 9, 0) X(3, 4, 12, 9, 1)                 \
  X(3, 4, 12, 9, 2) X(3, 4, 12, 9, 3) X(3, 4, 12, 12, 0) X(3, 4, 12, 12, 1)               \
  X(3, 4, 12, 12, 2) X(3, 4, 12, 12, 3) X(3, 4, 12, 12, 4) X(3, 4, 12, 12, 5)             \
  X(3, 4, 12, 12, 6) X(3, 4, 12, 12, 7) X(3, 4, 12, 13, 0) X(3, 4, 12, 13, 1)             \
  X(3, 4, 12, 13, 2) X(3, 4, 12, 13, 3) X(3, 4, 12, 13, 4) X(3, 4, 12, 13, 5)             \
  X(3, 4, 12, 13, 6) X(3, 4, 12, 13, 7)

class Aarch64SysRegAccessor {
 public:
  uint64_t Read(SysRegEncoding e) {
    uint64_t v = 0;
    switch (e.key()) {
#define IRQVIRT_READ_CASE(o0, o1, n, m, o2)                                         \
  case SysRegEncoding{o0, o1, n, m, o2}.key():                                     \
    asm volatile("mrs %0, S" #o0 "_" #o1 "_C" #n "_C" #m "_" #o2 : "=r"(v));       \
    break;
      IRQVIRT_ICH_SYSREGS(IRQVIRT_READ_CASE)
#undef IRQVIRT_READ_CASE
      default:
        break;
    }
    return v;
  }
  void Write(SysRegEncoding e, uint64_t v) {
    switch (e.key()) {
#define IRQVIRT_WRITE_CASE(o0, o1, n, m, o2)                                        \
  case SysRegEncoding{o0, o1, n, m, o2}.key():                                     \
    asm volatile("msr S" #o0 "_" #o1 "_C" #n "_C" #m "_" #o2 ", %0" : : "r"(v));   \
    break;
      IRQVIRT_ICH_SYSREGS(IRQVIRT_WRITE_CASE)
#undef IRQVIRT_WRITE_CASE
      default:
        break;
    }
    // The new LR/HCR values must be in effect before the eret into the guest.
    asm volatile("isb" ::: "memory");
  }
};

static_assert(SysRegAccessor<Aarch64SysRegAccessor>);

}  // namespace hw::arm

#endif  // __aarch64__

#endif  // IRQVIRT_HW_ARM_GICV3_SYSREG_ACCESSOR_H_
