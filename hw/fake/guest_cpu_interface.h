// SPDX-License-Identifier: MIT
// The guest's side of a fake virtual CPU interface, as the guest model (gic_guest.h) drives it:
// GICv3's ICV_*_EL1 system registers or GICv2's GICV_* MMIO registers.
#ifndef IRQVIRT_HW_FAKE_GUEST_CPU_INTERFACE_H_
#define IRQVIRT_HW_FAKE_GUEST_CPU_INTERFACE_H_

#include <cstdint>

namespace hw::fake {

inline constexpr uint32_t kSpuriousIntid = 1023;  // IHI 0069 §2.2.1, IHI 0048B §3.2.4

enum class DirOutcome { kDone, kIgnored, kTrapped };

class GuestCpuInterface {
 public:
  virtual ~GuestCpuInterface() = default;
  // Acknowledges the highest-priority pending Group `group` interrupt (ICV_IAR<group>_EL1;
  // GICv2: GICV_IAR for Group 0, GICV_AIAR for Group 1). Returns the IAR value (the INTID and,
  // for a GICv2 SGI, its sender in bits 12:10) or kSpuriousIntid.
  virtual uint32_t Acknowledge(int group) = 0;
  // Writes `value`, as acknowledged, to ICV_EOIR<group>_EL1 (GICv2: GICV_EOIR / GICV_AEOIR).
  virtual void EndOfInterrupt(int group, uint32_t value) = 0;
  // Writes `value` to ICV_DIR_EL1 (GICv2: GICV_DIR).
  virtual DirOutcome Deactivate(uint32_t value) = 0;
  // EOImode 1: EOI only drops the priority and DIR deactivates.
  virtual bool eoi_mode_split() const = 0;
  // Whether the hypervisor traps the guest's Group `group` registers now (GICv3
  // ICH_HCR_EL2.TALL0/TALL1); the guest's IAR and EOIR accesses then exit instead.
  virtual bool GroupRegistersTrap(int group) const = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_GUEST_CPU_INTERFACE_H_
