// SPDX-License-Identifier: MIT
// The virtual GIC CPU interface state that the vGIC core computes before a vCPU enters the
// guest and reads back after it exits. A backend (GICv3 through system registers, GICv2 through
// the GICH window) restores it into the hardware on entry and saves it on exit; the core never
// touches a register itself. Values use the GICv3 ICH_*_EL2 layouts (hw/arm/gicv3_regs.h);
// a GICv2 backend translates.
#ifndef IRQVIRT_HW_VGIC_CPU_STATE_H_
#define IRQVIRT_HW_VGIC_CPU_STATE_H_

#include <array>
#include <cstdint>

namespace hw {

struct VgicCpuState {
  static constexpr int kMaxListRegisters = 16;
  static constexpr int kMaxAprRegisters = 4;

  // Written by the core on flush, read back by the backend's Save; only lr[0..used_lrs) matter.
  // A GICv2 guest's SGI carries its sender in vINTID[12:10] (GICH_LR.CPUID on a GICv2 host).
  std::array<uint64_t, kMaxListRegisters> lr{};
  int used_lrs = 0;
  uint64_t hcr = 0;  // ICH_HCR_EL2; on save, EOIcount is kept only if LRENPIE was set
  // Guest-owned (the guest changes them without trapping); saved on every exit.
  uint64_t vmcr = 0;
  std::array<uint32_t, kMaxAprRegisters> ap0r{};
  std::array<uint32_t, kMaxAprRegisters> ap1r{};
  // Read on save only, for the core's accounting (why the vCPU exited).
  uint64_t misr = 0;
  uint64_t eisr = 0;
};

// What a backend learnt from the hardware (ICH_VTR_EL2 / GICH_VTR) at probe time.
struct VgicCpuFeatures {
  int num_list_registers = 0;
  int num_apr_registers = 1;
  int priority_bits = 5;
  bool can_trap_dir = true;  // TDIR alone can trap DIR (ICH_VTR_EL2.TDS); otherwise TC must
};

}  // namespace hw

#endif  // IRQVIRT_HW_VGIC_CPU_STATE_H_
