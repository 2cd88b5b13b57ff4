// SPDX-License-Identifier: MIT
// A fake GICv2 virtual CPU interface: the GICH_* window the hypervisor programs (reached by MMIO
// offset through hw::MmioRegion, so the real GICv2 backend runs on top of it), and the GICV_*
// operations a guest performs, as IHI 0048B §5 defines them:
//   - acknowledge (GICV_IAR for Group 0, GICV_AIAR for Group 1): the highest-priority Pending LR
//     becomes Active; the value returned is VirtualID with, for an SGI, the LR's CPUID (the
//     sender) in bits 12:10.
//   - EOI (GICV_EOIR / GICV_AEOIR): priority drop; with EOImode 0 also deactivate the Active LR
//     whose VirtualID and CPUID match the written value, or, when none does, increment
//     GICH_HCR.EOICount.
//   - GICV_DIR: traps. It is alone in the GICV window's second page, which the embedder leaves
//     unmapped so that every DIR exits to the vGIC core (gic.md §2.7): GICv2 has no bit to trap
//     it selectively. With Config::dir_page_mapped the hardware handles it instead: with
//     EOImode 1 it deactivates the Active LR whose VirtualID and CPUID match, or increments
//     EOICount when none does; with EOImode 0 it does nothing.
//   - deactivating an LR with HW = 1 deactivates its PhysicalID on the physical GIC; one with
//     HW = 0 and EOI = 1 sets its GICH_EISR bit, so GICH_MISR.EOI raises the maintenance
//     interrupt (how the core hears that the next sender of a multi-source SGI can follow).
//   - GICH_MISR / EISR / ELRSR are computed from HCR, VMCR and the LRs on every read, as levels.
// The list registers behave as a GICv3 interface's do (the same priority, preemption and
// maintenance rules), so the fake keeps them in ICH layout in a FakeGicV3CpuInterface and
// translates at the GICH window (hw/arm/gicv2_translation.h); what differs is the window, the
// IAR value, one GICH_APR for both groups, no vSGIEOICount, and DIR trapping.
// GICH is accessed as aligned 32-bit words; anything else (64-bit accesses, unaligned or unknown
// offsets, LRs beyond ListRegs, writes to read-only registers) reads as zero, ignores writes and
// is counted in bad_accesses(). One vCPU's interface, used from that vCPU's thread.
#ifndef IRQVIRT_HW_FAKE_FAKE_GICV2_CPU_INTERFACE_H_
#define IRQVIRT_HW_FAKE_FAKE_GICV2_CPU_INTERFACE_H_

#include <cstdint>

#include "hw/arm/gicv2_regs.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/fake/guest_cpu_interface.h"
#include "hw/mmio_region.h"
#include "hw/physical_gic.h"

namespace hw::fake {

class FakeGicV2CpuInterface : public MmioRegion, public GuestCpuInterface {
 public:
  struct Config {
    int num_list_registers = 4;  // 1..16, clamped (GICv2 allows 64; the state holds 16)
    bool dir_page_mapped = false;  // the guest reaches the hardware GICV_DIR (no trap)
  };

  FakeGicV2CpuInterface(Config config, PhysicalGic* physical);

  // --- the hypervisor's GICH window ---
  uint32_t Read32(uint32_t offset) override;
  void Write32(uint32_t offset, uint32_t value) override;
  uint64_t Read64(uint32_t offset) override;               // not a GICH access width: RAZ
  void Write64(uint32_t offset, uint64_t value) override;  // WI

  // --- the guest (GICV_*) ---
  uint32_t Acknowledge(int group) override;                 // GICV_IAR / GICV_AIAR
  void EndOfInterrupt(int group, uint32_t value) override;  // GICV_EOIR / GICV_AEOIR
  DirOutcome Deactivate(uint32_t value) override;           // GICV_DIR
  bool eoi_mode_split() const override { return lrs_.eoi_mode_split(); }
  bool GroupRegistersTrap(int) const override { return false; }  // GICV_* never trap but DIR
  void SetPriorityMask(uint8_t pmr) { lrs_.SetPriorityMask(pmr); }             // GICV_PMR
  void SetGroupEnable(int group, bool on) { lrs_.SetGroupEnable(group, on); }  // GICV_CTLR
  void SetEoiMode(bool split) { lrs_.SetEoiMode(split); }                      // GICV_CTLR
  uint8_t RunningPriority() const { return lrs_.RunningPriority(); }           // GICV_RPR

  // --- what the hardware shows ---
  bool maintenance_interrupt() const { return lrs_.maintenance_interrupt(); }
  uint32_t lr(int n) const;  // GICH_LR<n> as the hypervisor would read it
  arm::GichHcr hcr() const;
  uint64_t dir_traps() const { return dir_traps_; }  // GICV_DIR writes that exited
  uint64_t bad_accesses() const { return bad_accesses_ + lrs_.bad_accesses(); }
  // The list registers in ICH layout, for checks shared with the GICv3 fake.
  FakeGicV3CpuInterface& list_registers() { return lrs_; }
  const Config& config() const { return config_; }

 private:
  // LR index for a GICH offset, or -1 when the offset is not an LR this CPU has.
  int LrIndex(uint32_t offset) const;
  uint32_t Bad() {
    ++bad_accesses_;
    return 0;
  }

  Config config_;
  FakeGicV3CpuInterface lrs_;
  arm::GichVtr vtr_;
  uint64_t dir_traps_ = 0;
  uint64_t bad_accesses_ = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_GICV2_CPU_INTERFACE_H_
