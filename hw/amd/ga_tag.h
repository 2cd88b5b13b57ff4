// SPDX-License-Identifier: MIT
// The 32-bit GA tag a hypervisor stores in a guest-mode IRTE: the IOMMU copies it into the GA
// log so software can find the vCPU. Encoding as in current KVM (arch/x86/kvm/svm/avic.c, with
// x2AVIC's 4096 vCPUs): a 20-bit VM id in bits 31:12 and a 12-bit vCPU index in bits 11:0.
#ifndef IRQVIRT_HW_AMD_GA_TAG_H_
#define IRQVIRT_HW_AMD_GA_TAG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/reg/register.h"

namespace hw::amd {

class GaTag : public reg::Register<GaTag, 32> {
 public:
  IRQVIRT_REGISTER("GaTag");
  // Linux avic.c: AVIC_VCPU_IDX_MASK = AVIC_PHYSICAL_MAX_INDEX_MASK, 12 bits since x2AVIC's
  // 4096-entry physical ID table (9 bits in Linux 6.3-6.17); the VM id takes the rest.
  IRQVIRT_FIELD(11, 0, vcpu_index);  // position of the vCPU in its VM: 0..4095
  IRQVIRT_FIELD(31, 12, vm_id);      // AVIC_VM_ID_MASK: 20 bits

  static constexpr uint32_t kMaxVmId = (1u << 20) - 1;
  static constexpr uint32_t kMaxVcpuIndex = (1u << 12) - 1;

  // Packs (vm_id, vcpu_index); a value that does not fit is an error, never truncated.
  static absl::StatusOr<GaTag> Make(uint32_t vm_id, uint32_t vcpu_index) {
    if (vm_id > kMaxVmId) {
      return absl::InvalidArgumentError(
          absl::StrFormat("GA tag: VM id %u does not fit in 20 bits (max %u)", vm_id, kMaxVmId));
    }
    if (vcpu_index > kMaxVcpuIndex) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "GA tag: vCPU index %u does not fit in 12 bits (max %u)", vcpu_index, kMaxVcpuIndex));
    }
    return GaTag().set_vm_id(vm_id).set_vcpu_index(vcpu_index);
  }
};

static_assert(reg::LayoutIsComplete<GaTag>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_GA_TAG_H_
