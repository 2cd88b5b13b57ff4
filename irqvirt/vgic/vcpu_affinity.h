// SPDX-License-Identifier: MIT
// The MPIDR_EL1 affinity each vCPU of a GICv3 guest has, which GICD_IROUTER, GICR_TYPER and
// ICC_SGI1R_EL1 name it by. vCPU i is Aff0 = i % 16, Aff1 = i / 16, Aff2 = Aff3 = 0, as KVM
// assigns them: 16 PEs per Aff0 range, so that one ICC_SGI1R_EL1 TargetList (16 bits, RS = 0)
// reaches a whole cluster and GICD_TYPER.RSS can stay 0. The embedder must give each vCPU's
// MPIDR_EL1 these affinity fields (VcpuMpidrAffinity).
#ifndef IRQVIRT_VGIC_VCPU_AFFINITY_H_
#define IRQVIRT_VGIC_VCPU_AFFINITY_H_

#include <cstdint>

#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

struct Affinity {
  uint8_t aff0 = 0, aff1 = 0, aff2 = 0, aff3 = 0;
  friend constexpr bool operator==(const Affinity&, const Affinity&) = default;
};

inline constexpr uint32_t kVcpusPerAff0Range = 16;

constexpr Affinity VcpuAffinity(uint32_t vcpu) {
  return {static_cast<uint8_t>(vcpu % kVcpusPerAff0Range),
          static_cast<uint8_t>(vcpu / kVcpusPerAff0Range), 0, 0};
}

// The vCPU with affinity `a`, or kNoVcpu when no vCPU of a `num_vcpus` VM has it.
constexpr int32_t VcpuOfAffinity(Affinity a, uint32_t num_vcpus) {
  if (a.aff0 >= kVcpusPerAff0Range || a.aff2 != 0 || a.aff3 != 0) return kNoVcpu;
  const uint32_t vcpu = uint32_t{a.aff1} * kVcpusPerAff0Range + a.aff0;
  return vcpu < num_vcpus ? static_cast<int32_t>(vcpu) : kNoVcpu;
}

// MPIDR_EL1's affinity fields for `vcpu`: Aff0 7:0, Aff1 15:8, Aff2 23:16, Aff3 39:32 (Arm ARM
// D19.2 MPIDR_EL1).
constexpr uint64_t VcpuMpidrAffinity(uint32_t vcpu) {
  const Affinity a = VcpuAffinity(vcpu);
  return uint64_t{a.aff0} | (uint64_t{a.aff1} << 8) | (uint64_t{a.aff2} << 16) |
         (uint64_t{a.aff3} << 32);
}

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_VCPU_AFFINITY_H_
