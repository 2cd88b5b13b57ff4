// SPDX-License-Identifier: MIT
// Emulation of a trapped ICV_*_EL1 access (a GICv3 guest's CPU interface register) against the
// vCPU's saved list registers, VMCR and active priorities, giving exactly what the hardware would
// have given had it not trapped. Needed because a CPU without ICH_VTR_EL2.TDS can trap DIR only
// together with every register common to both groups (ICH_HCR_EL2.TC: PMR, RPR, CTLR, SGI*R),
// and an embedder's errata workaround may trap whole groups (TALL0/TALL1). Behaviour per
// IHI 0069 §4.8 (preemption, binary points), §12.2 (ICC_* / ICV_* registers) and §12.4.4 (the
// EOIcount rules); checked against the fake GICv3 CPU interface running the same accesses
// untrapped (tests/vgic/cpu_interface_trap_test.cc).
//
// Pure: no locks, no allocation; the caller is the vCPU's own run loop between the backend's
// Save and the core's Fold, so that what the access changes (an LR acknowledged or deactivated,
// EOIcount, the priority mask) is folded like anything the guest did in hardware.
#ifndef IRQVIRT_IRQVIRT_VGIC_CPU_INTERFACE_EMULATION_H_
#define IRQVIRT_IRQVIRT_VGIC_CPU_INTERFACE_EMULATION_H_

#include <algorithm>
#include <bit>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/arm/icc_sysregs.h"
#include "hw/physical_gic.h"
#include "hw/vgic_cpu_state.h"

namespace irqvirt::vgic {

// The virtual CPU interface being emulated, as ICH_VTR_EL2 describes it.
struct CpuInterfaceShape {
  int priority_bits = 5;    // PRIbits + 1
  int preemption_bits = 5;  // PREbits + 1: 5, 6 or 7 (1, 2 or 4 APRs per group)
  uint32_t id_bits = 0;     // IDbits, shown in ICV_CTLR_EL1
  bool seis = false;
  bool a3v = false;

  static CpuInterfaceShape FromVtr(hw::arm::IchVtr vtr) {
    return {.priority_bits = static_cast<int>(vtr.pri_bits()) + 1,
            .preemption_bits = static_cast<int>(vtr.pre_bits()) + 1,
            .id_bits = static_cast<uint32_t>(vtr.id_bits()),
            .seis = vtr.seis() != 0,
            .a3v = vtr.a3v() != 0};
  }
  int num_apr_registers() const { return hw::arm::AprRegistersPerGroup(preemption_bits); }
  // The priority bits the interface implements; the others are RAZ/WI in PMR and ignored in LRs.
  uint32_t priority_mask() const { return 0xffu << (8 - priority_bits) & 0xffu; }
};

inline constexpr uint32_t kIcvSpuriousIntid = 1023;  // IHI 0069 §2.2.1

class CpuInterfaceEmulation {
 public:
  // `physical` deactivates the pINTID of a HW list register the emulated EOI deactivates; it may
  // be null when no interrupt is HW-mapped.
  CpuInterfaceEmulation(hw::VgicCpuState& state, const CpuInterfaceShape& shape,
                        hw::PhysicalGic* physical)
      : state_(state), shape_(shape), physical_(physical) {}

  // The guest read (`is_write` false) or wrote `value` to `reg`. Returns the value read (0 for
  // a write). Errors, for which the embedder injects an UNDEF: a register that is not an
  // emulated ICV_* register, a read of a write-only or a write of a read-only one, an APR this
  // CPU lacks. ICV_DIR_EL1 and the SGI registers are not handled here (FailedPrecondition):
  // DIR goes to Vgic::HandleDirTrap after Fold, SGIs to HandleSgiRegisterWrite.
  absl::StatusOr<uint64_t> Access(hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) {
    using namespace hw::arm;  // NOLINT: the ICC_* encodings
    if (reg == kIccDirEl1) {
      return absl::FailedPreconditionError(
          "ICV_DIR_EL1: handle it with Vgic::HandleDirTrap after Fold");
    }
    if (reg == kIccSgi0rEl1 || reg == kIccSgi1rEl1 || reg == kIccAsgi1rEl1) {
      return absl::FailedPreconditionError(
          "ICC_SGI*R_EL1: send the SGI with HandleSgiRegisterWrite (sgi_generation.h)");
    }
    const bool read_only = reg == kIccIar0El1 || reg == kIccIar1El1 || reg == kIccHppir0El1 ||
                           reg == kIccHppir1El1 || reg == kIccRprEl1;
    const bool write_only = reg == kIccEoir0El1 || reg == kIccEoir1El1;
    if ((is_write && read_only) || (!is_write && write_only)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ICV register %s is %s: the access is UNDEFINED", Name(reg),
                          read_only ? "read-only" : "write-only"));
    }
    if (reg == kIccIar0El1) return Acknowledge(0);
    if (reg == kIccIar1El1) return Acknowledge(1);
    if (reg == kIccEoir0El1) return EndOfInterrupt(0, value), uint64_t{0};
    if (reg == kIccEoir1El1) return EndOfInterrupt(1, value), uint64_t{0};
    if (reg == kIccHppir0El1) return HighestPendingIntid(0);
    if (reg == kIccHppir1El1) return HighestPendingIntid(1);
    if (reg == kIccRprEl1) return RunningPriority();
    if (reg == kIccPmrEl1) return is_write ? (SetPmr(value), uint64_t{0}) : vmcr().vpmr();
    if (reg == kIccBpr0El1) return is_write ? (SetBpr0(value), uint64_t{0}) : Bpr0();
    if (reg == kIccBpr1El1) return is_write ? (SetBpr1(value), uint64_t{0}) : Bpr1();
    if (reg == kIccCtlrEl1) return is_write ? (SetCtlr(value), uint64_t{0}) : Ctlr();
    if (reg == kIccIgrpen0El1 || reg == kIccIgrpen1El1) {
      const int group = reg == kIccIgrpen0El1 ? 0 : 1;
      if (!is_write) return uint64_t{group == 0 ? vmcr().veng0() : vmcr().veng1()};
      auto v = vmcr();
      if (group == 0) v.set_veng0(value & 1);
      if (group == 1) v.set_veng1(value & 1);
      state_.vmcr = v.raw();
      return uint64_t{0};
    }
    for (int n = 0; n < hw::VgicCpuState::kMaxAprRegisters; ++n) {
      for (int group = 0; group < 2; ++group) {
        if (reg != (group == 0 ? IccAp0rEl1(n) : IccAp1rEl1(n))) continue;
        if (n >= shape_.num_apr_registers()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "ICV_AP%dR%d_EL1: this CPU has %d APRs per group; the access is UNDEFINED", group, n,
              shape_.num_apr_registers()));
        }
        uint32_t& apr = group == 0 ? state_.ap0r[n] : state_.ap1r[n];
        if (!is_write) return uint64_t{apr};
        apr = static_cast<uint32_t>(value);
        return uint64_t{0};
      }
    }
    return absl::InvalidArgumentError(
        absl::StrFormat("system register (%d, %d, %d, %d, %d) is not an ICV_* register", reg.op0,
                        reg.op1, reg.crn, reg.crm, reg.op2));
  }

 private:
  hw::arm::IchVmcr vmcr() const { return hw::arm::IchVmcr::FromRaw(state_.vmcr); }
  uint8_t ImplementedPriority(uint64_t p) const {
    return static_cast<uint8_t>(p & shape_.priority_mask());
  }
  // The smallest binary points: BPR0 leaves `preemption_bits` bits of group priority
  // (bits [7:BPR0+1]), BPR1 one more (bits [7:BPR1]) (IHI 0069 §4.8.3).
  uint64_t MinBpr0() const { return static_cast<uint64_t>(7 - shape_.preemption_bits); }
  uint64_t Bpr0() const { return std::max<uint64_t>(vmcr().vbpr0(), MinBpr0()); }
  uint64_t Bpr1() const {
    if (vmcr().vcbpr()) return std::min<uint64_t>(Bpr0() + 1, 7);  // reads as BPR0 + 1
    return std::max<uint64_t>(vmcr().vbpr1(), MinBpr0() + 1);
  }
  void SetBpr0(uint64_t v) { state_.vmcr = vmcr().set_vbpr0(std::max(v & 7, MinBpr0())).raw(); }
  void SetBpr1(uint64_t v) {
    if (vmcr().vcbpr()) return;  // ignored while BPR0 governs both groups
    state_.vmcr = vmcr().set_vbpr1(std::max(v & 7, MinBpr0() + 1)).raw();
  }
  void SetPmr(uint64_t v) { state_.vmcr = vmcr().set_vpmr(ImplementedPriority(v & 0xff)).raw(); }

  // The group priority that decides preemption: BPR0 for Group 0, and for Group 1 BPR1 or,
  // with CBPR, BPR0 as well (IHI 0069 §4.8.3).
  uint8_t GroupPriority(uint64_t priority, int group) const {
    const int shift =
        group == 0 || vmcr().vcbpr() ? static_cast<int>(Bpr0()) + 1 : static_cast<int>(Bpr1());
    return static_cast<uint8_t>(ImplementedPriority(priority) & (0xffu << shift));
  }
  int PreemptionShift() const { return 8 - shape_.preemption_bits; }

  // The lowest set active-priority bit across both groups, or -1.
  int HighestActiveBit() const {
    for (int n = 0; n < shape_.num_apr_registers(); ++n) {
      const uint32_t any = state_.ap0r[n] | state_.ap1r[n];
      if (any != 0) return n * 32 + std::countr_zero(any);
    }
    return -1;
  }
  uint64_t RunningPriority() const {
    const int bit = HighestActiveBit();
    return bit < 0 ? 0xff : static_cast<uint64_t>(bit << PreemptionShift()) & 0xff;
  }

  bool GroupEnabled(int group) const {
    return group == 0 ? vmcr().veng0() != 0 : vmcr().veng1() != 0;
  }
  // The highest-priority LR in exactly the Pending state of an enabled group (ties: the lowest
  // LR), or -1.
  int HighestPendingLr() const {
    int best = -1;
    uint8_t best_priority = 0;
    for (int n = 0; n < state_.used_lrs; ++n) {
      const uint64_t lr = state_.lr[n];
      if (hw::arm::IchLrStateOf(lr) != hw::arm::LrState::kPending) continue;
      const auto v = hw::arm::IchLrVirtual::FromRaw(lr);
      if (!GroupEnabled(static_cast<int>(v.group()))) continue;
      const uint8_t priority = ImplementedPriority(v.priority());
      if (best < 0 || priority < best_priority) {
        best = n;
        best_priority = priority;
      }
    }
    return best;
  }

  uint64_t HighestPendingIntid(int group) const {
    const int n = HighestPendingLr();
    if (n < 0) return kIcvSpuriousIntid;
    const auto v = hw::arm::IchLrVirtual::FromRaw(state_.lr[n]);
    return static_cast<int>(v.group()) == group ? v.vintid() : kIcvSpuriousIntid;
  }

  uint64_t Acknowledge(int group) {
    const int n = HighestPendingLr();
    if (n < 0) return kIcvSpuriousIntid;
    const auto v = hw::arm::IchLrVirtual::FromRaw(state_.lr[n]);
    if (static_cast<int>(v.group()) != group) return kIcvSpuriousIntid;
    // Masked unless above the mask's implemented bits (PMR's others are RAZ/WI).
    if (ImplementedPriority(v.priority()) >= ImplementedPriority(vmcr().vpmr())) {
      return kIcvSpuriousIntid;
    }
    const uint8_t group_priority = GroupPriority(v.priority(), group);
    if (group_priority >= RunningPriority()) return kIcvSpuriousIntid;  // cannot preempt
    state_.lr[n] = (state_.lr[n] & ~hw::arm::kIchLrPendingBit) | hw::arm::kIchLrActiveBit;
    const int bit = group_priority >> PreemptionShift();
    uint32_t& apr = group == 0 ? state_.ap0r[bit / 32] : state_.ap1r[bit / 32];
    apr |= uint32_t{1} << (bit % 32);
    return v.vintid();
  }

  void EndOfInterrupt(int group, uint64_t value) {
    const uint32_t intid = static_cast<uint32_t>(value & 0xffffff);
    // Priority drop of the highest active priority, Group 0's bit first (IHI 0069 §4.1.1).
    const int bit = HighestActiveBit();
    if (bit < 0) return;  // nothing active: CONSTRAINED UNPREDICTABLE; no effect
    const uint32_t mask = uint32_t{1} << (bit % 32);
    if ((state_.ap0r[bit / 32] & mask) != 0) {
      state_.ap0r[bit / 32] &= ~mask;
    } else {
      state_.ap1r[bit / 32] &= ~mask;
    }
    if (vmcr().veoim()) return;  // EOImode 1: the priority drop only
    int n = -1;
    for (int i = 0; i < state_.used_lrs && n < 0; ++i) {
      if ((state_.lr[i] & hw::arm::kIchLrActiveBit) != 0 &&
          hw::arm::IchLrVintid(state_.lr[i]) == intid) {
        n = i;
      }
    }
    if (n < 0) {
      CountDeactivationOutsideLrs(intid);
      return;
    }
    const auto v = hw::arm::IchLrVirtual::FromRaw(state_.lr[n]);
    // A guest that EOIs out of order or with the wrong group deactivates nothing.
    if (static_cast<int>(v.group()) != group ||
        (GroupPriority(v.priority(), group) >> PreemptionShift()) != bit) {
      return;
    }
    if (hw::arm::IchLrIsHw(state_.lr[n]) && physical_ != nullptr) {
      physical_->Deactivate(
          static_cast<uint32_t>(hw::arm::IchLrHardware::FromRaw(state_.lr[n]).pintid()));
    }
    state_.lr[n] &= ~hw::arm::kIchLrActiveBit;
  }

  // EOIcount counts deactivations that found no LR (not a virtual SGI's with vSGIEOICount).
  // The backend's Save keeps EOIcount only while LRENPIE is set, and so does this.
  void CountDeactivationOutsideLrs(uint32_t intid) {
    auto hcr = hw::arm::IchHcr::FromRaw(state_.hcr);
    if (!hcr.lrenpie() || (intid < 16 && hcr.vsgieoicount())) return;
    state_.hcr = hcr.set_eoicount((hcr.eoicount() + 1) & 0x1f).raw();
  }

  uint64_t Ctlr() const {
    hw::arm::IccCtlr c;
    c.set_cbpr(vmcr().vcbpr())
        .set_eoimode(vmcr().veoim())
        .set_pri_bits(static_cast<uint64_t>(shape_.priority_bits - 1))
        .set_id_bits(shape_.id_bits)
        .set_seis(shape_.seis ? 1 : 0)
        .set_a3v(shape_.a3v ? 1 : 0);
    return c.raw();
  }
  void SetCtlr(uint64_t value) {
    const auto c = hw::arm::IccCtlr::FromRaw(value);  // only CBPR and EOImode are writable
    state_.vmcr = vmcr().set_vcbpr(c.cbpr()).set_veoim(c.eoimode()).raw();
  }

  static const char* Name(hw::arm::SysRegEncoding reg) {
    using namespace hw::arm;  // NOLINT
    if (reg == kIccIar0El1) return "ICV_IAR0_EL1";
    if (reg == kIccIar1El1) return "ICV_IAR1_EL1";
    if (reg == kIccHppir0El1) return "ICV_HPPIR0_EL1";
    if (reg == kIccHppir1El1) return "ICV_HPPIR1_EL1";
    if (reg == kIccRprEl1) return "ICV_RPR_EL1";
    if (reg == kIccEoir0El1) return "ICV_EOIR0_EL1";
    if (reg == kIccEoir1El1) return "ICV_EOIR1_EL1";
    return "ICV_*";
  }

  hw::VgicCpuState& state_;
  CpuInterfaceShape shape_;
  hw::PhysicalGic* physical_;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_IRQVIRT_VGIC_CPU_INTERFACE_EMULATION_H_
