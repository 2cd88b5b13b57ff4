// SPDX-License-Identifier: MIT
// The guest-facing GICv3 redistributors of a GICv3 guest, over the vGIC core's interrupt state:
// one RD_base and one SGI_base frame (64 KiB each) per vCPU, vCPU i's at i * 128 KiB of one
// contiguous region (IHI 0069 §12.10). The embedder calls it from the MMIO exit of an access to
// that region, on the accessing vCPU's run loop after Fold:
//   absl::StatusOr<uint64_t> v = redistributors.Read(vcpu, offset_in_region, size);
//   absl::Status s = redistributors.Write(vcpu, offset_in_region, size, value);
// Any vCPU may access any redistributor (a guest programs another PE's PPIs that way). Errors
// only for a vCPU the VM does not have; guest garbage gets RAZ/WI as in distributor.h.
//
// RD_base: GICR_CTLR is RAZ/WI (no LPIs: EnableLPIs is RES0, and writes complete at once, so
// RWP and UWP read 0); GICR_TYPER names the vCPU (Processor_Number, its affinity) and sets Last
// on the last one; GICR_WAKER keeps ProcessorSleep as written and ChildrenAsleep follows it at
// once (a vCPU's redistributor has nothing to quiesce; it resets asleep, as hardware does).
// ProcessorSleep does not gate delivery: whether a sleeping vCPU runs is the hypervisor's call.
// SGI_base: the SGI/PPI arrays of interrupt_registers.h; IGRPMODR0 and NSACR are RAZ/WI (DS=1).
#ifndef IRQVIRT_VGIC_REDISTRIBUTOR_H_
#define IRQVIRT_VGIC_REDISTRIBUTOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/distributor.h"
#include "irqvirt/vgic/interrupt_registers.h"
#include "irqvirt/vgic/vcpu_affinity.h"
#include "irqvirt/vgic/vgic.h"

namespace irqvirt::vgic {

template <typename P>
class Redistributors {
 public:
  // For GICv3 guests only: a GICv2 guest has no redistributors.
  static absl::StatusOr<std::unique_ptr<Redistributors>> Create(Vgic<P>& vgic) {
    if (vgic.guest_model() != GuestModel::kGicV3) {
      return absl::FailedPreconditionError("redistributors exist for GICv3 guests only");
    }
    return std::unique_ptr<Redistributors>(new Redistributors(vgic));
  }

  Redistributors(const Redistributors&) = delete;
  Redistributors& operator=(const Redistributors&) = delete;

  // The region the embedder maps: one frame pair per vCPU.
  uint64_t region_size() const { return uint64_t{vgic_.num_vcpus()} * hw::arm::kGicrFrameStride; }

  absl::StatusOr<uint64_t> Read(uint32_t vcpu, uint64_t offset, uint32_t size) {
    if (vcpu >= vgic_.num_vcpus()) return UnknownVcpu(vcpu);
    if (!IsAccessWidth(size) || offset % size != 0 || offset >= region_size()) return 0;
    const auto owner = static_cast<uint32_t>(offset / hw::arm::kGicrFrameStride);
    const uint64_t in_frames = offset % hw::arm::kGicrFrameStride;
    if (in_frames >= hw::arm::kGicrSgiBase) {
      const uint64_t sgi_offset = in_frames - hw::arm::kGicrSgiBase;
      if (std::optional<IrqArrayOffset> at = DecodeIrqArray(sgi_offset)) {
        return Bank(vcpu, owner).Read(*at, size);
      }
      return 0;
    }
    if (in_frames == hw::arm::kGicrTyper && size == 8) return Typer(owner);
    if (in_frames == hw::arm::kGicrTyper && size == 4) return Typer(owner) & 0xffffffff;
    if (in_frames == hw::arm::kGicrTyper + 4 && size == 4) return Typer(owner) >> 32;
    if (size != 4) return 0;
    switch (in_frames) {
      case hw::arm::kGicrIidr:
        return kGicIidrValue;
      case hw::arm::kGicrWaker: {
        const bool asleep = sleeping_[owner].load(std::memory_order_acquire);
        return hw::arm::GicrWaker()
            .set_processor_sleep(asleep ? 1 : 0)
            .set_children_asleep(asleep ? 1 : 0)
            .raw();
      }
      case hw::arm::kGicv3Pidr2:
        return GicPidr2Value(3);
      default:
        return 0;  // GICR_CTLR, STATUSR, LPI registers (no LPIs), reserved
    }
  }

  absl::Status Write(uint32_t vcpu, uint64_t offset, uint32_t size, uint64_t value) {
    if (vcpu >= vgic_.num_vcpus()) return UnknownVcpu(vcpu);
    if (!IsAccessWidth(size) || offset % size != 0 || offset >= region_size()) {
      return absl::OkStatus();
    }
    const auto owner = static_cast<uint32_t>(offset / hw::arm::kGicrFrameStride);
    const uint64_t in_frames = offset % hw::arm::kGicrFrameStride;
    if (in_frames >= hw::arm::kGicrSgiBase) {
      const uint64_t sgi_offset = in_frames - hw::arm::kGicrSgiBase;
      if (std::optional<IrqArrayOffset> at = DecodeIrqArray(sgi_offset)) {
        Bank(vcpu, owner).Write(*at, size, static_cast<uint32_t>(value));
      }
      return absl::OkStatus();
    }
    if (in_frames == hw::arm::kGicrWaker && size == 4) {
      const auto w = hw::arm::GicrWaker::FromRaw(static_cast<uint32_t>(value));
      sleeping_[owner].store(w.processor_sleep() != 0, std::memory_order_release);
    }
    return absl::OkStatus();  // TYPER, IIDR, PIDR2 are read-only; the rest RAZ/WI
  }

 private:
  explicit Redistributors(Vgic<P>& vgic)
      : vgic_(vgic), sleeping_(new std::atomic<bool>[vgic.num_vcpus()]) {
    for (uint32_t v = 0; v < vgic.num_vcpus(); ++v) sleeping_[v].store(true);
  }

  absl::Status UnknownVcpu(uint32_t vcpu) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "redistributor: vCPU %u does not exist (this VM has %u)", vcpu, vgic_.num_vcpus()));
  }

  IrqBank<P> Bank(uint32_t accessor, uint32_t owner) {
    return IrqBank<P>(vgic_, accessor, owner, 0, kNumPrivateIrqs);
  }

  uint64_t Typer(uint32_t owner) const {
    const Affinity a = VcpuAffinity(owner);
    return hw::arm::GicrTyper()
        .set_processor_number(owner)
        .set_last(owner + 1 == vgic_.num_vcpus() ? 1 : 0)
        .set_aff0(a.aff0)
        .set_aff1(a.aff1)
        .set_aff2(a.aff2)
        .set_aff3(a.aff3)
        .raw();
  }

  Vgic<P>& vgic_;
  std::unique_ptr<std::atomic<bool>[]> sleeping_;  // GICR_WAKER.ProcessorSleep per vCPU
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_REDISTRIBUTOR_H_
