// SPDX-License-Identifier: MIT
// A guest operating system's interrupt handling on a fake virtual CPU interface (GICv3 or GICv2):
// acknowledge, EOI in the architecture's order (the most recently acknowledged first, which is
// what priority drop requires), and with EOImode 1 deactivate any priority-dropped interrupt in
// any order. After every operation it asks its host whether the vCPU exits (a maintenance
// interrupt is asserted, or a DIR trapped), as a real vCPU would be interrupted mid-handler.
// Fixed capacity, no allocation: usable inside measured no-allocation regions.
#ifndef IRQVIRT_HW_FAKE_GIC_GUEST_H_
#define IRQVIRT_HW_FAKE_GIC_GUEST_H_

#include <array>
#include <cstdint>

#include "hw/arm/sysreg.h"
#include "hw/fake/guest_cpu_interface.h"

namespace hw::fake {

class GicGuest {
 public:
  // What happens around the guest: the host's side of a vCPU exit.
  class Host {
   public:
    virtual ~Host() = default;
    // The DIR write of `value` trapped: the vCPU exits, the host handles it and re-enters.
    virtual void DirTrapped(uint32_t value) = 0;
    // Another GICv3 ICV_* access trapped (ICH_HCR_EL2.TALL0/TALL1): the vCPU exits, the host
    // emulates it, re-enters and returns what the guest reads (0 for a write).
    virtual uint64_t SysRegTrapped(hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) = 0;
    // Called after each guest operation: exit and re-enter if the maintenance interrupt (or
    // anything else the host models) is asserted.
    virtual void AfterGuestOperation() = 0;
  };

  static constexpr int kCapacity = 1024;

  GicGuest(GuestCpuInterface& cpu, Host& host) : cpu_(cpu), host_(host) {}

  // ICV_IAR<group> (GICv2: GICV_IAR / GICV_AIAR): the IAR value taken, or kSpuriousIntid. EOIs
  // and DIRs write back exactly what was acknowledged (with a GICv2 SGI's sender).
  uint32_t Acknowledge(int group);
  // EOIs the most recently acknowledged interrupt not yet EOIed. With EOImode 1 it is then
  // waiting for a DIR. Returns its INTID, or kSpuriousIntid when nothing is acknowledged.
  uint32_t EoiNewest();
  // EOImode 1: deactivates the i-th interrupt waiting for a DIR (0 = the oldest).
  uint32_t DeactivateWaiting(int i);
  // Removes the i-th interrupt waiting for a DIR without deactivating it: another vCPU of the
  // guest will (an SPI may be deactivated on any vCPU).
  uint32_t TakeWaiting(int i);
  // A raw DIR of any value (for garbage and cross-vCPU deactivations).
  void Dir(uint32_t value);

  int num_acknowledged_not_eoied() const { return stack_size_; }
  int num_waiting_for_dir() const { return waiting_size_; }
  uint32_t waiting(int i) const { return waiting_[i]; }
  GuestCpuInterface& cpu() { return cpu_; }

 private:
  struct Taken {
    uint32_t intid;
    int group;
  };
  GuestCpuInterface& cpu_;
  Host& host_;
  std::array<Taken, kCapacity> stack_{};
  int stack_size_ = 0;
  std::array<uint32_t, kCapacity> waiting_{};
  int waiting_size_ = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_GIC_GUEST_H_
