// SPDX-License-Identifier: MIT
// The GICv5 vGIC core on the fake IRS, wired as a hypervisor wires it: the shipped
// VDRCFG/VDPEND backend over the fake, one VgicV5 for the VM, and the guest's operations
// (configure, acknowledge, priority drop, deactivate) played on the fake IRS. Exit(v) is what
// the run loop does after vCPU v leaves the guest. Single-threaded (LogicalPlatform).
#ifndef IRQVIRT_TESTS_VGIC_V5_VGIC_V5_HARNESS_H_
#define IRQVIRT_TESTS_VGIC_V5_VGIC_V5_HARNESS_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "gtest/gtest.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "hw/fake/fake_gicv5_irs.h"
#include "hw/fake/logical_platform.h"
#include "hw/gicv5_ppi_state.h"
#include "irqvirt/vgic/vgic_v5.h"

namespace irqvirt::vgic::testing {

using V5Platform = hw::fake::LogicalPlatform;
using TestVgicV5 = VgicV5<V5Platform>;

struct V5HarnessOptions {
  uint32_t num_vcpus = 2;
  uint32_t num_spis = 64;
  uint16_t vm_id = 1;
  int irs_vms = 2;  // VMs the fake IRS knows (a vm_id beyond it faults every query)
};

class VgicV5Harness {
 public:
  explicit VgicV5Harness(const V5HarnessOptions& o = {})
      : platform_(static_cast<int>(o.num_vcpus)),
        irs_(o.irs_vms, o.num_spis),
        backend_(irs_),
        vm_(o.vm_id) {
    auto v = TestVgicV5::Create(platform_, {.num_vcpus = o.num_vcpus,
                                            .num_spis = o.num_spis,
                                            .vm_id = o.vm_id,
                                            .irs = &backend_});
    EXPECT_TRUE(v.ok()) << v.status();
    vgic_ = std::move(*v);
  }

  TestVgicV5& vgic() { return *vgic_; }
  void DestroyVgic() { vgic_.reset(); }
  hw::fake::FakeGicv5Irs& irs() { return irs_; }
  V5Platform& platform() { return platform_; }
  uint16_t vm() const { return vm_; }

  // The guest enables SPI `id`, routes it to `vpe` and picks its handling mode and priority;
  // the hypervisor configures the same trigger for its device.
  void GuestSetUp(uint32_t id, Trigger trigger, uint8_t priority = 8, uint16_t vpe = 0) {
    irs_.GuestSetEnabled(vm_, id, true);
    irs_.GuestSetPriority(vm_, id, priority);
    irs_.GuestSetHandlingMode(vm_, id, trigger == Trigger::kLevel);
    irs_.GuestSetTarget(vm_, id, vpe);
    ASSERT_TRUE(vgic_->ConfigureSpi(id, trigger).ok());
  }

  void Inject(uint32_t id, bool level) { ASSERT_TRUE(vgic_->Inject(id, level).ok()); }

  std::optional<uint32_t> Acknowledge(uint16_t vpe) { return irs_.Acknowledge(vm_, vpe); }
  // Acknowledge, priority drop and deactivate the next SPI for `vpe`; returns its ID.
  std::optional<uint32_t> HandleOne(uint16_t vpe) {
    const std::optional<uint32_t> id = irs_.Acknowledge(vm_, vpe);
    if (id) {
      EXPECT_TRUE(irs_.PriorityDrop(vm_, vpe));
      irs_.Deactivate(vm_, *id);
    }
    return id;
  }
  void Deactivate(uint32_t id) { irs_.Deactivate(vm_, id); }

  // vCPU `vcpu` left the guest: save its PPIs (as the guest left them) and fold.
  void Exit(uint32_t vcpu) {
    platform_.SetCurrentCpu(static_cast<int>(vcpu));
    ASSERT_TRUE(vgic_->Fold(vcpu, ppis_[vcpu % kMaxVcpus]).ok());
  }
  hw::Gicv5PpiState& ppis(uint32_t vcpu) { return ppis_[vcpu % kMaxVcpus]; }

  SpiSnapshotV5 Snapshot(uint32_t id) {
    auto s = vgic_->Snapshot(id);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : SpiSnapshotV5{};
  }

 private:
  static constexpr uint32_t kMaxVcpus = 16;
  V5Platform platform_;
  hw::fake::FakeGicv5Irs irs_;
  hw::arm::Gicv5VirtualSpisBackend<hw::fake::FakeGicv5Irs> backend_;
  uint16_t vm_;
  std::unique_ptr<TestVgicV5> vgic_;
  hw::Gicv5PpiState ppis_[kMaxVcpus];
};

}  // namespace irqvirt::vgic::testing

#endif  // IRQVIRT_TESTS_VGIC_V5_VGIC_V5_HARNESS_H_
