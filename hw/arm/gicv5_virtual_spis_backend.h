// SPDX-License-Identifier: MIT
// The GICv5 backend of hw::Gicv5VirtualSpis: issues GIC VDRCFG / VDPEND and reads ICC_ICSR_EL1
// through a GIC system-instruction accessor. On aarch64 the accessor executes `sys`/`mrs`
// (with the ISB the query needs before ICSR is read, gic.md §4.2); tests pass the fake IRS, so
// the operand encoding under test is the one shipped.
#ifndef IRQVIRT_HW_ARM_GICV5_VIRTUAL_SPIS_BACKEND_H_
#define IRQVIRT_HW_ARM_GICV5_VIRTUAL_SPIS_BACKEND_H_

#include <concepts>
#include <cstdint>

#include "hw/arm/gicv5_regs.h"
#include "hw/arm/sysreg.h"
#include "hw/gicv5_virtual_spis.h"

namespace hw::arm {

// Executes a GIC system instruction (op0 = 1) with operand Xt, and reads a system register.
// Issue must order the instruction before a later Read (the ISB the architecture requires);
// completion of a VDPEND is the GSB SYS the backend issues after it.
template <typename A>
concept GicSysInstructionAccessor = requires(A& a, SysRegEncoding e, uint64_t v) {
  { a.Issue(e, v) } -> std::same_as<void>;
  { a.Read(e) } -> std::same_as<uint64_t>;
};

template <GicSysInstructionAccessor Accessor>
class Gicv5VirtualSpisBackend final : public hw::Gicv5VirtualSpis {
 public:
  explicit Gicv5VirtualSpisBackend(Accessor& accessor) : accessor_(accessor) {}

  // An ID wider than 24 bits is no SPI: answered as a faulting query without issuing anything
  // (masking it would query another SPI).
  uint64_t QuerySpi(uint16_t vm, uint32_t id) override {
    if (id > kGicv5MaxId) return IccIcsr().set_f(1).raw();
    GicVdrcfgOperand op;
    op.set_id(id).set_type(static_cast<uint64_t>(Gicv5IntidType::kSpi)).set_vm(vm);
    accessor_.Issue(kGicVdrcfg, op.raw());
    return accessor_.Read(kIccIcsrEl1);
  }

  void SetSpiPending(uint16_t vm, uint32_t id, bool pending) override {
    if (id > kGicv5MaxId) return;  // no such SPI; the core never asks
    GicVdpendOperand op;
    op.set_id(id)
        .set_type(static_cast<uint64_t>(Gicv5IntidType::kSpi))
        .set_vm(vm)
        .set_pending(pending ? 1 : 0);
    accessor_.Issue(kGicVdpend, op.raw());
    // Without the barrier the new pending state may not be visible yet to a VDRCFG from another
    // PE (the fold), which could then drop the SPI from tracking while the IRS pends it.
    accessor_.Issue(kGsbSys, 0);
  }

 private:
  Accessor& accessor_;
};

#if defined(__aarch64__)
// The real accessor: `sys #4, C12, C1, #op2, Xt` for VDPEND/VDRCFG and `sys #0, C12, C0, #0`
// for GSB SYS, each followed by ISB; `mrs` for ICC_ICSR_EL1. Only the encodings the backend
// uses are cases.
class Aarch64GicSysInstructions {
 public:
  void Issue(SysRegEncoding e, uint64_t v) {
    if (e == kGicVdpend) {
      asm volatile("sys #4, C12, C1, #4, %0" : : "r"(v) : "memory");
    } else if (e == kGicVdrcfg) {
      asm volatile("sys #4, C12, C1, #5, %0" : : "r"(v) : "memory");
    } else if (e == kGsbSys) {
      asm volatile("sys #0, C12, C0, #0" ::: "memory");
    }
    asm volatile("isb" ::: "memory");
  }
  uint64_t Read(SysRegEncoding e) {
    uint64_t v = 0;
    if (e == kIccIcsrEl1) asm volatile("mrs %0, S3_0_C12_C10_4" : "=r"(v));
    return v;
  }
};
static_assert(GicSysInstructionAccessor<Aarch64GicSysInstructions>);
#endif

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV5_VIRTUAL_SPIS_BACKEND_H_
