// SPDX-License-Identifier: MIT
// The GICv3 backend: moves hw::VgicCpuState in and out of the ICH_*_EL2 registers through a
// system-register accessor, in the order KVM's hyp code uses (gic.md §1.6, §3.8 step 1):
// save reads ELRSR and only the LRs that hold information, reads VMCR, keeps EOIcount only
// when LRENPIE was set, then zeroes the LRs and ICH_HCR_EL2. On aarch64 the accessor is
// mrs/msr (gicv3_sysreg_accessor.h); tests pass the fake GIC's register file.
#ifndef IRQVIRT_HW_ARM_GICV3_CPU_INTERFACE_H_
#define IRQVIRT_HW_ARM_GICV3_CPU_INTERFACE_H_

#include <cstdint>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/sysreg.h"
#include "hw/vgic_cpu_state.h"

namespace hw::arm {

template <SysRegAccessor Accessor>
class GicV3CpuInterface {
 public:
  explicit GicV3CpuInterface(Accessor& accessor) : accessor_(accessor) {
    const IchVtr vtr = IchVtr::FromRaw(accessor_.Read(kIchVtrEl2));
    features_.num_list_registers = vtr.num_list_registers();
    features_.num_apr_registers = vtr.num_apr_registers();
    features_.priority_bits = static_cast<int>(vtr.pri_bits()) + 1;
    features_.can_trap_dir = vtr.tds() != 0;
  }

  const VgicCpuFeatures& features() const { return features_; }

  // Before entering the guest. Hot path: no allocation, interrupts off.
  void Restore(const VgicCpuState& s) {
    for (int n = 0; n < features_.num_apr_registers; ++n) {
      accessor_.Write(IchAp0rEl2(n), s.ap0r[n]);
      accessor_.Write(IchAp1rEl2(n), s.ap1r[n]);
    }
    accessor_.Write(kIchVmcrEl2, s.vmcr);
    for (int n = 0; n < s.used_lrs; ++n) accessor_.Write(IchLrEl2(n), s.lr[n]);
    accessor_.Write(kIchHcrEl2, s.hcr);  // En last: the LRs are complete when it takes effect
  }

  // After the guest exits. Hot path: no allocation, interrupts off.
  void Save(VgicCpuState& s) {
    const IchHcr hcr_shadow = IchHcr::FromRaw(s.hcr);
    s.misr = accessor_.Read(kIchMisrEl2);  // while HCR still holds the entry's enables
    s.eisr = accessor_.Read(kIchEisrEl2);
    if (s.used_lrs > 0) {
      const uint64_t elrsr = accessor_.Read(kIchElrsrEl2);
      for (int n = 0; n < s.used_lrs; ++n) {
        if ((elrsr >> n) & 1) {
          s.lr[n] &= ~(kIchLrPendingBit | kIchLrActiveBit);  // empty: nothing to read back
        } else {
          s.lr[n] = accessor_.Read(IchLrEl2(n));
        }
        accessor_.Write(IchLrEl2(n), 0);
      }
    }
    s.vmcr = accessor_.Read(kIchVmcrEl2);
    IchHcr hcr = hcr_shadow;
    hcr.set_eoicount(hcr_shadow.lrenpie()
                         ? IchHcr::FromRaw(accessor_.Read(kIchHcrEl2)).eoicount()
                         : 0);
    s.hcr = hcr.raw();
    accessor_.Write(kIchHcrEl2, 0);
    for (int n = 0; n < features_.num_apr_registers; ++n) {
      s.ap0r[n] = static_cast<uint32_t>(accessor_.Read(IchAp0rEl2(n)));
      s.ap1r[n] = static_cast<uint32_t>(accessor_.Read(IchAp1rEl2(n)));
    }
  }

 private:
  Accessor& accessor_;
  VgicCpuFeatures features_;
};

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV3_CPU_INTERFACE_H_
