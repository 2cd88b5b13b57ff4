// SPDX-License-Identifier: MIT
// A fake GICv3 virtual CPU interface: the ICH_*_EL2 register file the hypervisor programs (read
// and written by encoding, so the real GICv3 backend runs on top of it), and the ICV_*_EL1
// operations a guest performs, acting on the list registers as IHI 0069 §12 defines:
//   - acknowledge (ICV_IAR<g>): the highest-priority LR in exactly the Pending state whose group
//     is enabled in ICH_VMCR, if its priority is below the mask and its group priority above the
//     running priority; it becomes Active and its active-priority bit is set.
//   - EOI (ICV_EOIR<g>): priority drop of the highest active priority; with EOImode 0 also
//     deactivate the matching Active LR, or, when no LR matches, increment ICH_HCR.EOIcount
//     (not for an SGI while ICH_HCR.vSGIEOICount is set).
//   - DIR (ICV_DIR): trapped when ICH_HCR.TDIR or TC is set; ignored with EOImode 0; otherwise
//     deactivate the matching LR, or increment EOIcount. A CPU without ICH_VTR_EL2.TDS has
//     TDIR as RES0: only TC traps DIR there.
//   - every other ICV_* register through GuestRead/GuestWrite, trapped as ICH_HCR's TC, TALL0
//     and TALL1 say (IHI 0069 §12.4.4), with the binary points of ICH_VMCR deciding group
//     priorities (IHI 0069 §4.8.3).
//   - deactivating an LR with HW = 1 deactivates its pINTID on the physical GIC.
//   - ICH_MISR / EISR / ELRSR are computed from HCR, VMCR and the LRs on every read, as levels.
// 5 priority and 5 preemption bits (one APR per group), VTR's defaults here.
// One vCPU's interface: the guest and the hypervisor side run on that vCPU's thread.
#ifndef IRQVIRT_HW_FAKE_FAKE_GICV3_CPU_INTERFACE_H_
#define IRQVIRT_HW_FAKE_FAKE_GICV3_CPU_INTERFACE_H_

#include <array>
#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/sysreg.h"
#include "hw/fake/guest_cpu_interface.h"
#include "hw/physical_gic.h"

namespace hw::fake {

class FakeGicV3CpuInterface : public GuestCpuInterface {
 public:
  struct Config {
    int num_list_registers = 4;  // 1..16
    bool tdir_supported = true;  // ICH_VTR_EL2.TDS
  };

  FakeGicV3CpuInterface(Config config, PhysicalGic* physical);

  // --- the hypervisor's system-register accessor (hw::arm::SysRegAccessor) ---
  uint64_t Read(arm::SysRegEncoding e);
  void Write(arm::SysRegEncoding e, uint64_t value);

  // --- the guest (ICV_*_EL1) ---
  uint32_t Acknowledge(int group) override;                 // ICV_IAR0/1_EL1
  void EndOfInterrupt(int group, uint32_t intid) override;  // ICV_EOIR0/1_EL1
  DirOutcome Deactivate(uint32_t intid) override;           // ICV_DIR_EL1
  void SetPriorityMask(uint8_t pmr);                 // ICV_PMR_EL1
  void SetGroupEnable(int group, bool enabled);      // ICV_IGRPEN0/1_EL1
  void SetEoiMode(bool split);                       // ICV_CTLR_EL1.EOImode
  bool eoi_mode_split() const override { return vmcr_.veoim() != 0; }
  bool GroupRegistersTrap(int group) const override {
    return group == 0 ? hcr_.tall0() != 0 : hcr_.tall1() != 0;
  }
  // The running priority (ICV_RPR_EL1): 0xff when nothing is active.
  uint8_t RunningPriority() const;

  // The guest's MRS (GuestRead) or MSR (GuestWrite) of ICC_<reg>_EL1, reaching ICV_<reg>_EL1:
  // `trapped` when ICH_HCR_EL2 sends it to EL2 (nothing else happens then), otherwise performed
  // with `value` the register read (0 for a write). Registers this fake does not model, and
  // reads of write-only or writes of read-only ones, are counted as bad accesses.
  struct GuestAccess {
    bool trapped = false;
    uint64_t value = 0;
  };
  GuestAccess GuestRead(arm::SysRegEncoding reg);
  GuestAccess GuestWrite(arm::SysRegEncoding reg, uint64_t value);
  // Whether ICH_HCR_EL2 traps the guest's access to `reg` now.
  bool Traps(arm::SysRegEncoding reg) const;

  // --- what the hardware shows ---
  // The maintenance interrupt line: ICH_HCR.En and a non-zero ICH_MISR.
  bool maintenance_interrupt() const;
  arm::IchMisr misr() const;
  uint64_t eisr() const;
  uint64_t elrsr() const;
  uint64_t lr(int n) const { return lr_[n]; }
  arm::IchHcr hcr() const { return hcr_; }
  const Config& config() const { return config_; }
  // Accesses to registers that do not exist on this CPU (LRs beyond ListRegs, read-only
  // registers written): UNDEFINED on hardware, counted here so a test can assert none.
  uint64_t bad_accesses() const { return bad_accesses_; }

 private:
  static constexpr uint8_t kPriorityMask = 0xf8;  // 5 implemented priority bits
  static constexpr uint64_t kMinBpr0 = 2;         // 5 preemption bits: group priority [7:3]

  GuestAccess Perform(arm::SysRegEncoding reg, bool is_write, uint64_t value);
  uint64_t Bpr0() const;
  uint64_t Bpr1() const;
  int HighestPendingLr() const;
  int FindActiveLr(uint32_t intid) const;
  void DeactivateLr(int n);
  void IncrementEoiCount(uint32_t intid);
  // The priority bits that decide preemption: [7:BPR0+1] for Group 0 and for Group 1 with
  // CBPR, [7:BPR1] otherwise.
  uint8_t GroupPriority(uint8_t priority, int group) const;
  bool GroupEnabled(int group) const {
    return group == 0 ? vmcr_.veng0() != 0 : vmcr_.veng1() != 0;
  }

  Config config_;
  PhysicalGic* physical_;
  std::array<uint64_t, arm::kMaxListRegisters> lr_{};
  arm::IchHcr hcr_;
  arm::IchVmcr vmcr_;
  arm::IchVtr vtr_;
  std::array<uint32_t, 2> apr_{};  // AP0R0, AP1R0 (5 preemption bits: one register per group)
  uint64_t bad_accesses_ = 0;
};

static_assert(arm::SysRegAccessor<FakeGicV3CpuInterface>);

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_GICV3_CPU_INTERFACE_H_
