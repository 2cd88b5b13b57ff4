// SPDX-License-Identifier: MIT
// Software-generated interrupts a guest sends: GICD_SGIR writes of a GICv2 guest, and trapped
// ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 writes of a GICv3 guest (EL1 writes to them
// trap to EL2 while HCR_EL2.IMO/FMO are set). Each target gets the SGI through the core: a
// GICv2 guest's with its sender (Vgic::InjectSgi), a GICv3 guest's as an edge (Vgic::Inject).
// Guest values are never errors: a reserved filter, a target that does not exist, an RS that
// names no vCPU send nothing there. Cold path.
#ifndef IRQVIRT_VGIC_SGI_GENERATION_H_
#define IRQVIRT_VGIC_SGI_GENERATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/vcpu_affinity.h"
#include "irqvirt/vgic/vgic.h"

namespace irqvirt::vgic {

// GICD_SGIR written by vCPU `sender` of a GICv2 guest (IHI 0048B §4.3.15). NSATT is ignored:
// a VM's GIC has no Security Extensions.
template <typename P>
absl::Status SendGicV2Sgi(Vgic<P>& vgic, uint32_t sender, uint32_t sgir) {
  if (vgic.guest_model() != GuestModel::kGicV2) {
    return absl::FailedPreconditionError(
        "GICD_SGIR: a GICv3 guest (ARE = 1) sends SGIs through "
        "ICC_SGI1R_EL1; GICD_SGIR is RES0 there");
  }
  const uint32_t n = vgic.num_vcpus();
  if (sender >= n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u does not exist (this VM has %u)", sender, n));
  }
  const auto r = hw::arm::GicdSgir::FromRaw(sgir);
  uint32_t targets = 0;
  switch (static_cast<hw::arm::SgirFilter>(r.target_list_filter())) {
    case hw::arm::SgirFilter::kTargetList:
      targets = static_cast<uint32_t>(r.cpu_target_list());
      break;
    case hw::arm::SgirFilter::kAllButSelf:
      targets = ~(1u << sender);
      break;
    case hw::arm::SgirFilter::kSelf:
      targets = 1u << sender;
      break;
    case hw::arm::SgirFilter::kReserved:
      return absl::OkStatus();
  }
  targets &= (1u << n) - 1;  // CPU interfaces that do not exist receive nothing
  const auto sgi = static_cast<uint32_t>(r.sgi_int_id());
  for (uint32_t t = 0; t < n; ++t) {
    if ((targets >> t & 1) == 0) continue;
    if (absl::Status s = vgic.InjectSgi(t, sgi, sender); !s.ok()) return s;
  }
  return absl::OkStatus();
}

enum class SgiRegister : uint8_t { kSgi0r, kSgi1r, kAsgi1r };

// A GICv3 guest's SGI register written by vCPU `sender` (IHI 0069 §12.2.21-23). The VM has one
// Security state (GICD_CTLR.DS = 1): ICC_SGI1R_EL1 is forwarded whatever group the SGI has at
// the target, ICC_SGI0R_EL1 only where it is Group 0, and ICC_ASGI1R_EL1, having no other
// Security state to name, acts as ICC_SGI0R_EL1 (the architecture's SGI-forwarding rules for
// DS = 1; KVM reads them the same way). IRM = 1 sends to every vCPU but the sender.
template <typename P>
absl::Status SendGicV3Sgi(Vgic<P>& vgic, uint32_t sender, SgiRegister which, uint64_t value) {
  if (vgic.guest_model() != GuestModel::kGicV3) {
    return absl::FailedPreconditionError(
        "ICC_SGI*R_EL1: a GICv2 guest has no system-register CPU interface; it writes GICD_SGIR");
  }
  const uint32_t n = vgic.num_vcpus();
  if (sender >= n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("vCPU %u does not exist (this VM has %u)", sender, n));
  }
  const auto r = hw::arm::IccSgiR::FromRaw(value);
  const auto sgi = static_cast<uint32_t>(r.intid());
  auto send = [&](uint32_t target) -> absl::Status {
    if (which != SgiRegister::kSgi1r) {
      absl::StatusOr<IrqSnapshot> s = vgic.Snapshot(target, sgi);
      if (!s.ok()) return s.status();
      if (s->group != 0) return absl::OkStatus();
    }
    return vgic.Inject(target, sgi, true);
  };
  if (r.irm() != 0) {
    for (uint32_t t = 0; t < n; ++t) {
      if (t == sender) continue;
      if (absl::Status s = send(t); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  const auto list = static_cast<uint32_t>(r.target_list());
  for (uint32_t bit = 0; bit < 16; ++bit) {
    if ((list >> bit & 1) == 0) continue;
    const uint32_t aff0 = static_cast<uint32_t>(r.rs()) * 16 + bit;
    if (aff0 > 0xff) continue;
    const int32_t t =
        VcpuOfAffinity({static_cast<uint8_t>(aff0), static_cast<uint8_t>(r.aff1()),
                        static_cast<uint8_t>(r.aff2()), static_cast<uint8_t>(r.aff3())},
                       n);
    if (t == kNoVcpu) continue;
    if (absl::Status s = send(static_cast<uint32_t>(t)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The same, by the trapped register's encoding; any other encoding is the embedder's error.
template <typename P>
absl::Status HandleSgiRegisterWrite(Vgic<P>& vgic, uint32_t sender, hw::arm::SysRegEncoding reg,
                                    uint64_t value) {
  if (reg == hw::arm::kIccSgi1rEl1) return SendGicV3Sgi(vgic, sender, SgiRegister::kSgi1r, value);
  if (reg == hw::arm::kIccSgi0rEl1) return SendGicV3Sgi(vgic, sender, SgiRegister::kSgi0r, value);
  if (reg == hw::arm::kIccAsgi1rEl1) {
    return SendGicV3Sgi(vgic, sender, SgiRegister::kAsgi1r, value);
  }
  return absl::InvalidArgumentError("not an SGI generation register (ICC_SGI0R/SGI1R/ASGI1R)");
}

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_SGI_GENERATION_H_
