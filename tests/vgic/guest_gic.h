// SPDX-License-Identifier: MIT
// A guest's accesses to its distributor, redistributors and SGI registers on a VgicHarness, as
// a hypervisor routes them: the access traps, so the accessing vCPU exits (Fold) if it is in the
// guest, the access is emulated on its run loop, it re-enters (Flush), and the kicks the access
// issued land on the other vCPUs. Single-threaded, like the harness.
#ifndef IRQVIRT_TESTS_VGIC_GUEST_GIC_H_
#define IRQVIRT_TESTS_VGIC_GUEST_GIC_H_

#include <cstdint>
#include <memory>

#include "gtest/gtest.h"
#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/distributor.h"
#include "irqvirt/vgic/redistributor.h"
#include "irqvirt/vgic/sgi_generation.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {

class GuestGic {
 public:
  explicit GuestGic(VgicHarness& h) : h_(h), distributor_(h.vgic()) {
    if (h.backend() == Backend::kGicV3) {
      auto r = Redistributors<Platform>::Create(h.vgic());
      EXPECT_TRUE(r.ok()) << r.status();
      redistributors_ = std::move(*r);
    }
  }

  bool gicv2() const { return h_.backend() == Backend::kGicV2; }
  Distributor<Platform>& distributor() { return distributor_; }
  Redistributors<Platform>* redistributors() { return redistributors_.get(); }

  uint64_t DistRead(uint32_t v, uint64_t offset, uint32_t size = 4) {
    uint64_t value = 0;
    h_.WithExit(v, [&] {
      absl::StatusOr<uint64_t> r = distributor_.Read(v, offset, size);
      EXPECT_TRUE(r.ok()) << r.status();
      value = r.value_or(0);
    });
    return value;
  }
  void DistWrite(uint32_t v, uint64_t offset, uint64_t value, uint32_t size = 4) {
    h_.WithExit(v, [&] { EXPECT_TRUE(distributor_.Write(v, offset, size, value).ok()); });
  }

  // Offsets within vCPU `owner`'s frames (RD_base at 0, SGI_base at hw::arm::kGicrSgiBase).
  uint64_t RedistRead(uint32_t v, uint32_t owner, uint64_t offset, uint32_t size = 4) {
    uint64_t value = 0;
    h_.WithExit(v, [&] {
      absl::StatusOr<uint64_t> r =
          redistributors_->Read(v, owner * uint64_t{hw::arm::kGicrFrameStride} + offset, size);
      EXPECT_TRUE(r.ok()) << r.status();
      value = r.value_or(0);
    });
    return value;
  }
  void RedistWrite(uint32_t v, uint32_t owner, uint64_t offset, uint64_t value, uint32_t size = 4) {
    h_.WithExit(v, [&] {
      EXPECT_TRUE(redistributors_
                      ->Write(v, owner * uint64_t{hw::arm::kGicrFrameStride} + offset, size, value)
                      .ok());
    });
  }

  // The registers that hold INTIDs 0..31 for vCPU v: its redistributor's SGI_base frame on
  // GICv3, the banked distributor registers on GICv2.
  uint64_t PrivateRead(uint32_t v, uint64_t offset, uint32_t size = 4) {
    return gicv2() ? DistRead(v, offset, size)
                   : RedistRead(v, v, hw::arm::kGicrSgiBase + offset, size);
  }
  void PrivateWrite(uint32_t v, uint64_t offset, uint64_t value, uint32_t size = 4) {
    if (gicv2()) {
      DistWrite(v, offset, value, size);
    } else {
      RedistWrite(v, v, hw::arm::kGicrSgiBase + offset, value, size);
    }
  }

  // A trapped ICC_SGI1R_EL1 (or another SGI register) write on a GICv3 guest's vCPU v.
  void WriteSgiRegister(uint32_t v, hw::arm::SysRegEncoding reg, uint64_t value) {
    h_.WithExit(v, [&] { EXPECT_TRUE(HandleSgiRegisterWrite(h_.vgic(), v, reg, value).ok()); });
  }

 private:
  VgicHarness& h_;
  Distributor<Platform> distributor_;
  std::unique_ptr<Redistributors<Platform>> redistributors_;
};

}  // namespace irqvirt::vgic::testing

#endif  // IRQVIRT_TESTS_VGIC_GUEST_GIC_H_
