// SPDX-License-Identifier: MIT
// The GICv2 backend: moves hw::VgicCpuState in and out of the GICH_* registers through the GICH
// MMIO window, in the order the GICv3 backend uses (gicv3_cpu_interface.h), translating the
// values (gicv2_translation.h): save reads MISR and EISR while HCR still holds the entry's
// enables, reads back only the LRs that ELRSR says hold information and zeroes the used ones,
// reads VMCR, keeps EOICount only when LRENPIE was set, zeroes GICH_HCR, then reads GICH_APR;
// restore writes GICH_HCR last. GICv2 has one GICH_APR for both groups: the state keeps it in
// ap1r[0] (ap0r[0] = 0), and restore writes ap0r[0] | ap1r[0]. The abstract state holds at most
// 16 LRs, so EISR1/ELRSR1 (LRs 32..63) are never needed.
#ifndef IRQVIRT_HW_ARM_GICV2_CPU_INTERFACE_H_
#define IRQVIRT_HW_ARM_GICV2_CPU_INTERFACE_H_

#include <algorithm>
#include <cstdint>

#include "hw/arm/gicv2_regs.h"
#include "hw/arm/gicv2_translation.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/mmio_region.h"
#include "hw/vgic_cpu_state.h"

namespace hw::arm {

class GicV2CpuInterface {
 public:
  explicit GicV2CpuInterface(MmioRegion& gich) : gich_(gich) {
    const auto vtr = GichVtr::FromRaw(gich_.Read32(kGichVtr));
    features_.num_list_registers =
        std::min(vtr.num_list_registers(), VgicCpuState::kMaxListRegisters);
    features_.num_apr_registers = 1;
    features_.priority_bits = static_cast<int>(vtr.pri_bits()) + 1;
    // GICv2 cannot trap DIR by a control bit; GICV_DIR traps because the embedder leaves its
    // page unmapped, which serves the core as TDIR would.
    features_.can_trap_dir = true;
  }

  const VgicCpuFeatures& features() const { return features_; }

  // Before entering the guest. Hot path: no allocation, interrupts off.
  void Restore(const VgicCpuState& s) {
    gich_.Write32(kGichApr, s.ap0r[0] | s.ap1r[0]);
    gich_.Write32(kGichVmcr, GichVmcrFromIchVmcr(s.vmcr));
    const int used = ClampedUsedLrs(s);
    for (int n = 0; n < used; ++n) gich_.Write32(GichLrOffset(n), GichLrFromIchLr(s.lr[n]));
    gich_.Write32(kGichHcr, GichHcrFromIchHcr(s.hcr));  // En last: the LRs are complete
  }

  // After the guest exits. Hot path: no allocation, interrupts off.
  void Save(VgicCpuState& s) {
    const IchHcr hcr_shadow = IchHcr::FromRaw(s.hcr);
    s.misr = IchMisrFromGichMisr(gich_.Read32(kGichMisr));
    s.eisr = gich_.Read32(kGichEisr0);
    const int used = ClampedUsedLrs(s);
    if (used > 0) {
      const uint32_t elrsr = gich_.Read32(kGichElrsr0);
      for (int n = 0; n < used; ++n) {
        if ((elrsr >> n) & 1) {
          s.lr[n] &= ~(kIchLrPendingBit | kIchLrActiveBit);  // empty: nothing to read back
        } else {
          s.lr[n] = IchLrFromGichLr(gich_.Read32(GichLrOffset(n)));
        }
        gich_.Write32(GichLrOffset(n), 0);
      }
    }
    s.vmcr = IchVmcrFromGichVmcr(gich_.Read32(kGichVmcr));
    IchHcr hcr = hcr_shadow;
    hcr.set_eoicount(hcr_shadow.lrenpie() ? GichHcr::FromRaw(gich_.Read32(kGichHcr)).eoicount()
                                          : 0);
    s.hcr = hcr.raw();
    gich_.Write32(kGichHcr, 0);
    s.ap0r[0] = 0;
    s.ap1r[0] = gich_.Read32(kGichApr);
  }

 private:
  // A state claiming more LRs than this CPU has (a caller's bug) moves only the ones it has.
  int ClampedUsedLrs(const VgicCpuState& s) const {
    return std::clamp(s.used_lrs, 0, features_.num_list_registers);
  }

  MmioRegion& gich_;
  VgicCpuFeatures features_;
};

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GICV2_CPU_INTERFACE_H_
