// SPDX-License-Identifier: MIT
// The guest-facing GIC distributor (GICD) of a GICv2 or a GICv3 guest, over the vGIC core's
// interrupt state. An embedder calls it from the MMIO exit of an access to the distributor
// frame, on the accessing vCPU's run loop after Fold:
//   absl::StatusOr<uint64_t> v = distributor.Read(vcpu, offset, size);
//   absl::Status s = distributor.Write(vcpu, offset, size, value);
// The only error is a vCPU the VM does not have (the embedder's bug). Whatever the guest does
// (a width or alignment a register does not have, a reserved offset, reserved bits, a CPU
// that does not exist) gets the architecture's behaviour: read-as-zero, writes ignored,
// reserved bits ignored, and the core's structures stay consistent.
//
// What a guest sees:
//   - GICv2 (IHI 0048B ch. 4): a distributor without the Security Extensions. SGI/PPI registers
//     (INTIDs 0..31) are banked per accessing vCPU; ITARGETSR0..7 are read-only and name the
//     reader; SPIs' ITARGETSR bytes keep the CPUs written (bits of CPUs that do not exist are
//     masked) and route the SPI to the lowest one, none if zero (the core delivers to one vCPU,
//     a valid choice for a 1-N SPI); GICD_SGIR, CPENDSGIR and SPENDSGIR work per sender.
//   - GICv3 (IHI 0069 §12.9): one Security state, GICD_CTLR.DS = 1 and ARE = 1, both read-one
//     write-ignored: a VM has no Secure state to separate from, and with ARE the registers of
//     INTIDs 0..31 are in the redistributors (the GICD ones are RES0, §12.9) and SPIs are
//     routed by GICD_IROUTER. TYPER.No1N = 1, so IROUTER.IRM is RAZ/WI; A3V = 0 and RSS = 0,
//     as the vCPU affinities (vcpu_affinity.h) need no Aff3 and no range selector.
//   - Both: the group enables in GICD_CTLR are kept as written, and the core forwards every
//     group while either is set (it has one distributor enable; the guest's own group enables
//     in its CPU interface still gate what it takes). 5 priority bits (interrupt_registers.h).
#ifndef IRQVIRT_VGIC_DISTRIBUTOR_H_
#define IRQVIRT_VGIC_DISTRIBUTOR_H_

#include <bit>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/interrupt_registers.h"
#include "irqvirt/vgic/sgi_generation.h"
#include "irqvirt/vgic/vcpu_affinity.h"
#include "irqvirt/vgic/vgic.h"

namespace irqvirt::vgic {

// GICD_IIDR / GICR_IIDR: Arm's JEP106 code as KVM reports it, and this library's product ID.
inline constexpr uint32_t kGicIidrValue =
    hw::arm::GicIidr().set_implementer(0x43b).set_product_id('I').raw();

// ICPIDR2 / GICD_PIDR2 / GICR_PIDR2 of an Arm-identified GIC (JEP106 0x3b: des_1 = 0b011,
// JEDEC = 1) of architecture revision `arch_rev`.
constexpr uint32_t GicPidr2Value(uint32_t arch_rev) {
  return hw::arm::GicPidr2().set_des_1(0b011).set_jedec(1).set_arch_rev(arch_rev).raw();
}

inline bool IsAccessWidth(uint32_t size) {
  return size == 1 || size == 2 || size == 4 || size == 8;
}

template <typename P>
class Distributor {
 public:
  explicit Distributor(Vgic<P>& vgic) : vgic_(vgic) {
    const uint32_t enables = vgic.distributor_enabled() ? 0b11 : 0;
    absl::MutexLock l(&ctlr_mu_);
    group_enables_ = enables;
  }

  Distributor(const Distributor&) = delete;
  Distributor& operator=(const Distributor&) = delete;

  bool gicv2() const { return vgic_.guest_model() == GuestModel::kGicV2; }
  // The size of the frame the embedder maps: 4 KiB (GICv2) or 64 KiB (GICv3).
  uint32_t frame_size() const {
    return gicv2() ? hw::arm::kGicv2DistributorSize : hw::arm::kGicv3DistributorSize;
  }

  absl::StatusOr<uint64_t> Read(uint32_t vcpu, uint64_t offset, uint32_t size) {
    if (vcpu >= vgic_.num_vcpus()) return UnknownVcpu(vcpu);
    if (!Accessible(offset, size)) return 0;
    if (std::optional<IrqArrayOffset> at = DecodeIrqArray(offset)) {
      return Bank(vcpu).Read(*at, size);
    }
    if (!gicv2() && offset >= hw::arm::kGicdIrouter && offset < hw::arm::kGicdIrouter + 0x2000) {
      return ReadIrouter(offset, size);
    }
    if (gicv2() && offset >= hw::arm::kGicdItargetsr && offset < hw::arm::kGicdItargetsr + 0x400) {
      return ReadTargets(vcpu, static_cast<uint32_t>(offset - hw::arm::kGicdItargetsr), size);
    }
    if (gicv2() && offset >= hw::arm::kGicdCpendsgir && offset < hw::arm::kGicdSpendsgir + 0x10) {
      return ReadSgiSources(vcpu, static_cast<uint32_t>(offset % 0x10), size);
    }
    if (size != 4) return 0;
    switch (offset) {
      case hw::arm::kGicdCtlr:
        return Ctlr();
      case hw::arm::kGicdTyper:
        return Typer();
      case hw::arm::kGicdIidr:
        return kGicIidrValue;
      case hw::arm::kGicv2DistributorPidr2:
        return gicv2() ? GicPidr2Value(2) : 0;
      case hw::arm::kGicv3Pidr2:
        return gicv2() ? 0 : GicPidr2Value(3);
      default:
        return 0;  // reserved, IMPLEMENTATION DEFINED, write-only (SGIR) or RAZ/WI
    }
  }

  absl::Status Write(uint32_t vcpu, uint64_t offset, uint32_t size, uint64_t value) {
    if (vcpu >= vgic_.num_vcpus()) return UnknownVcpu(vcpu);
    if (!Accessible(offset, size)) return absl::OkStatus();
    if (size < 8) value &= (uint64_t{1} << (8 * size)) - 1;
    if (std::optional<IrqArrayOffset> at = DecodeIrqArray(offset)) {
      Bank(vcpu).Write(*at, size, static_cast<uint32_t>(value));
      return absl::OkStatus();
    }
    if (!gicv2() && offset >= hw::arm::kGicdIrouter && offset < hw::arm::kGicdIrouter + 0x2000) {
      WriteIrouter(offset, size, value);
      return absl::OkStatus();
    }
    if (gicv2() && offset >= hw::arm::kGicdItargetsr && offset < hw::arm::kGicdItargetsr + 0x400) {
      WriteTargets(static_cast<uint32_t>(offset - hw::arm::kGicdItargetsr), size, value);
      return absl::OkStatus();
    }
    if (gicv2() && offset >= hw::arm::kGicdCpendsgir && offset < hw::arm::kGicdSpendsgir + 0x10) {
      WriteSgiSources(vcpu, offset >= hw::arm::kGicdSpendsgir, static_cast<uint32_t>(offset % 0x10),
                      size, value);
      return absl::OkStatus();
    }
    if (size != 4) return absl::OkStatus();
    if (offset == hw::arm::kGicdCtlr) {
      WriteCtlr(static_cast<uint32_t>(value));
    } else if (offset == hw::arm::kGicdSgir && gicv2()) {
      return SendGicV2Sgi(vgic_, vcpu, static_cast<uint32_t>(value));
    }
    return absl::OkStatus();  // read-only (TYPER, IIDR, PIDR2), reserved or RAZ/WI
  }

 private:
  absl::Status UnknownVcpu(uint32_t vcpu) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "distributor: vCPU %u does not exist (this VM has %u)", vcpu, vgic_.num_vcpus()));
  }

  // An access of a real width, naturally aligned, inside the frame; the register then decides
  // which widths it has.
  bool Accessible(uint64_t offset, uint32_t size) const {
    return IsAccessWidth(size) && offset % size == 0 && offset < frame_size();
  }

  // GICv2: INTIDs 0..31 banked for the accessor, SPIs shared. GICv3 (ARE): SPIs only.
  IrqBank<P> Bank(uint32_t vcpu) {
    return IrqBank<P>(vgic_, vcpu, vcpu, gicv2() ? 0 : kFirstSpi, vgic_.num_intids());
  }

  uint32_t Ctlr() {
    absl::MutexLock l(&ctlr_mu_);
    if (gicv2()) return group_enables_;
    return hw::arm::GicdCtlrV3()
        .set_enable_grp0(group_enables_ & 1)
        .set_enable_grp1(group_enables_ >> 1)
        .set_are(1)
        .set_ds(1)
        .raw();
  }

  // EnableGrp0/EnableGrp1 are bits 0 and 1 in both layouts; the rest is RES0 or fixed.
  void WriteCtlr(uint32_t value) {
    absl::MutexLock l(&ctlr_mu_);  // keeps the core's enable in step with the bits
    const uint32_t enables = value & 0b11;
    const bool was = group_enables_ != 0;
    group_enables_ = enables;
    if ((enables != 0) != was) vgic_.SetDistributorEnabled(enables != 0);
  }

  uint32_t Typer() const {
    hw::arm::GicdTyper t;
    t.set_it_lines_number(vgic_.num_intids() / 32 - 1);
    if (gicv2()) {
      t.set_cpu_number(vgic_.num_vcpus() - 1);
    } else {
      t.set_id_bits(10 - 1).set_no1n(1);  // INTIDs 0..1019 need 10 bits
    }
    return static_cast<uint32_t>(t.raw());
  }

  // --- GICv2 ITARGETSR (IHI 0048B §4.3.12): byte-accessible, 1 or 4 bytes.
  uint64_t ReadTargets(uint32_t vcpu, uint32_t byte, uint32_t size) {
    if (size != 1 && size != 4) return 0;
    uint64_t value = 0;
    for (uint32_t i = 0; i < size; ++i) value |= uint64_t{TargetsOf(vcpu, byte + i)} << (8 * i);
    return value;
  }
  uint8_t TargetsOf(uint32_t vcpu, uint32_t intid) {
    if (intid < kFirstSpi) return static_cast<uint8_t>(1u << vcpu);  // the reader's own bit
    absl::StatusOr<typename Vgic<P>::SpiRouting> r = vgic_.GetSpiRouting(intid);
    if (!r.ok()) return 0;  // beyond the implemented SPIs: RAZ
    if (r->guest_word_current) return static_cast<uint8_t>(r->guest_word);
    return r->target == kNoVcpu ? 0 : static_cast<uint8_t>(1u << r->target);
  }
  void WriteTargets(uint32_t byte, uint32_t size, uint64_t value) {
    if (size != 1 && size != 4) return;
    const auto existing = static_cast<uint8_t>((1u << vgic_.num_vcpus()) - 1);
    for (uint32_t i = 0; i < size; ++i) {
      const uint32_t intid = byte + i;
      if (intid < kFirstSpi || intid >= vgic_.num_intids()) continue;  // read-only or RAZ/WI
      const auto targets = static_cast<uint8_t>((value >> (8 * i)) & existing);
      const int32_t target = targets == 0 ? kNoVcpu : std::countr_zero(targets);
      (void)vgic_.SetSpiRouting(intid, targets, target);
    }
  }

  // --- GICv2 CPENDSGIR/SPENDSGIR (IHI 0048B §4.3.16-17): a byte per SGI, a bit per sender,
  // banked per accessing vCPU; byte-accessible.
  uint64_t ReadSgiSources(uint32_t vcpu, uint32_t byte, uint32_t size) {
    if (size != 1 && size != 4) return 0;
    uint64_t value = 0;
    for (uint32_t i = 0; i < size; ++i) {
      absl::StatusOr<uint8_t> s = vgic_.SgiSources(vcpu, byte + i);
      if (s.ok()) value |= uint64_t{*s} << (8 * i);
    }
    return value;
  }
  void WriteSgiSources(uint32_t vcpu, bool set, uint32_t byte, uint32_t size, uint64_t value) {
    if (size != 1 && size != 4) return;
    for (uint32_t i = 0; i < size; ++i) {
      const auto sources = static_cast<uint8_t>(value >> (8 * i));
      if (sources != 0) (void)vgic_.SetSgiSources(vcpu, byte + i, sources, set);
    }
  }

  // --- GICv3 IROUTER (IHI 0069 §12.9.22): 64-bit, or either 32-bit half.
  static constexpr uint64_t kIrouterWritable = 0xffffff;  // Aff2.Aff1.Aff0; Aff3 (A3V = 0)
                                                          // and IRM (No1N = 1) are RAZ/WI
  uint64_t IrouterOf(uint32_t intid) {
    absl::StatusOr<typename Vgic<P>::SpiRouting> r = vgic_.GetSpiRouting(intid);
    if (!r.ok()) return 0;
    if (r->guest_word_current) return r->guest_word;
    return r->target == kNoVcpu
               ? 0
               : VcpuMpidrAffinity(static_cast<uint32_t>(r->target)) & kIrouterWritable;
  }
  uint64_t ReadIrouter(uint64_t offset, uint32_t size) {
    if (size != 4 && size != 8) return 0;
    const auto intid = static_cast<uint32_t>((offset - hw::arm::kGicdIrouter) / 8);
    if (intid < kFirstSpi) return 0;  // IROUTER0..31 are reserved
    const uint64_t word = IrouterOf(intid);
    if (size == 8) return word;
    return offset % 8 == 0 ? word & 0xffffffff : word >> 32;
  }
  void WriteIrouter(uint64_t offset, uint32_t size, uint64_t value) {
    if (size != 4 && size != 8) return;
    const auto intid = static_cast<uint32_t>((offset - hw::arm::kGicdIrouter) / 8);
    if (intid < kFirstSpi || intid >= vgic_.num_intids()) return;
    absl::MutexLock l(&route_mu_);  // the read-merge-write of a half is one step
    uint64_t word = value;
    if (size == 4) {
      const uint64_t old = IrouterOf(intid);
      word = offset % 8 == 0 ? (old & ~uint64_t{0xffffffff}) | value
                             : (old & 0xffffffff) | (value << 32);
    }
    word &= kIrouterWritable;
    const auto r = hw::arm::GicdIrouter::FromRaw(word);
    const int32_t target =
        VcpuOfAffinity({static_cast<uint8_t>(r.aff0()), static_cast<uint8_t>(r.aff1()),
                        static_cast<uint8_t>(r.aff2()), 0},
                       vgic_.num_vcpus());
    (void)vgic_.SetSpiRouting(intid, word, target);
  }

  Vgic<P>& vgic_;
  absl::Mutex ctlr_mu_;
  uint32_t group_enables_ ABSL_GUARDED_BY(ctlr_mu_) = 0;  // EnableGrp1:EnableGrp0
  absl::Mutex route_mu_;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_DISTRIBUTOR_H_
