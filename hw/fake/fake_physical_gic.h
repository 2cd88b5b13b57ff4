// SPDX-License-Identifier: MIT
// A fake host GIC that only tracks the active state of physical INTIDs, so that tests can see
// whether a HW-mapped virtual interrupt's physical twin was deactivated, and exactly once.
#ifndef IRQVIRT_HW_FAKE_FAKE_PHYSICAL_GIC_H_
#define IRQVIRT_HW_FAKE_FAKE_PHYSICAL_GIC_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "hw/physical_gic.h"

namespace hw::fake {

class FakePhysicalGic final : public PhysicalGic {
 public:
  static constexpr uint32_t kNumIntids = 1024;

  // The host took physical interrupt `pintid` (acknowledged it): it is active until deactivated.
  void Activate(uint32_t pintid) {
    if (pintid < kNumIntids) active_[pintid].store(true);
  }
  void Deactivate(uint32_t pintid) override {
    if (pintid >= kNumIntids || !active_[pintid].exchange(false)) {
      spurious_deactivations_.fetch_add(1);
      return;
    }
    deactivations_[pintid].fetch_add(1);
  }
  bool active(uint32_t pintid) const { return pintid < kNumIntids && active_[pintid].load(); }
  uint64_t deactivations(uint32_t pintid) const {
    return pintid < kNumIntids ? deactivations_[pintid].load() : 0;
  }
  // Deactivations of an INTID that was not active: the hypervisor deactivated twice.
  uint64_t spurious_deactivations() const { return spurious_deactivations_.load(); }

 private:
  std::array<std::atomic<bool>, kNumIntids> active_{};
  std::array<std::atomic<uint64_t>, kNumIntids> deactivations_{};
  std::atomic<uint64_t> spurious_deactivations_{0};
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_PHYSICAL_GIC_H_
