// SPDX-License-Identifier: MIT
// The guest's GICv3 CPU interface system registers, ICC_*_EL1, which a vCPU reaches as their
// virtual twins ICV_*_EL1 (same encodings), and the ICH_HCR_EL2 trap bit that sends each one to
// EL2. Sources: IHI 0069 §12.2 (ICC_*), §12.4.4 (ICH_HCR_EL2.TC/TALL0/TALL1/TDIR) and the ICV_*
// descriptions; encodings as in Linux arch/arm64/include/asm/sysreg.h SYS_ICC_*.
#ifndef IRQVIRT_HW_ARM_ICC_SYSREGS_H_
#define IRQVIRT_HW_ARM_ICC_SYSREGS_H_

#include <cstdint>

#include "hw/arm/sysreg.h"
#include "hw/reg/register.h"

namespace hw::arm {

inline constexpr SysRegEncoding kIccPmrEl1{3, 0, 4, 6, 0};
inline constexpr SysRegEncoding kIccIar0El1{3, 0, 12, 8, 0};
inline constexpr SysRegEncoding kIccEoir0El1{3, 0, 12, 8, 1};
inline constexpr SysRegEncoding kIccHppir0El1{3, 0, 12, 8, 2};
inline constexpr SysRegEncoding kIccBpr0El1{3, 0, 12, 8, 3};
constexpr SysRegEncoding IccAp0rEl1(int n) { return {3, 0, 12, 8, static_cast<uint8_t>(4 + n)}; }
constexpr SysRegEncoding IccAp1rEl1(int n) { return {3, 0, 12, 9, static_cast<uint8_t>(n)}; }
inline constexpr SysRegEncoding kIccDirEl1{3, 0, 12, 11, 1};
inline constexpr SysRegEncoding kIccRprEl1{3, 0, 12, 11, 3};
inline constexpr SysRegEncoding kIccSgi1rEl1{3, 0, 12, 11, 5};
inline constexpr SysRegEncoding kIccAsgi1rEl1{3, 0, 12, 11, 6};
inline constexpr SysRegEncoding kIccSgi0rEl1{3, 0, 12, 11, 7};
inline constexpr SysRegEncoding kIccIar1El1{3, 0, 12, 12, 0};
inline constexpr SysRegEncoding kIccEoir1El1{3, 0, 12, 12, 1};
inline constexpr SysRegEncoding kIccHppir1El1{3, 0, 12, 12, 2};
inline constexpr SysRegEncoding kIccBpr1El1{3, 0, 12, 12, 3};
inline constexpr SysRegEncoding kIccCtlrEl1{3, 0, 12, 12, 4};
inline constexpr SysRegEncoding kIccIgrpen0El1{3, 0, 12, 12, 6};
inline constexpr SysRegEncoding kIccIgrpen1El1{3, 0, 12, 12, 7};

// Which ICH_HCR_EL2 bit traps a guest access to a register (IHI 0069 §12.4.4): TC the registers
// common to both groups, TALL0 / TALL1 the Group 0 / Group 1 ones, TDIR (where TDS) DIR alone.
enum class IccTrapClass { kCommon, kGroup0, kGroup1, kNone };

constexpr IccTrapClass TrapClassOf(SysRegEncoding e) {
  if (e == kIccDirEl1 || e == kIccPmrEl1 || e == kIccRprEl1 || e == kIccCtlrEl1 ||
      e == kIccSgi0rEl1 || e == kIccSgi1rEl1 || e == kIccAsgi1rEl1) {
    return IccTrapClass::kCommon;
  }
  if (e == kIccIar0El1 || e == kIccEoir0El1 || e == kIccHppir0El1 || e == kIccBpr0El1 ||
      e == kIccIgrpen0El1) {
    return IccTrapClass::kGroup0;
  }
  if (e == kIccIar1El1 || e == kIccEoir1El1 || e == kIccHppir1El1 || e == kIccBpr1El1 ||
      e == kIccIgrpen1El1) {
    return IccTrapClass::kGroup1;
  }
  for (int n = 0; n < 4; ++n) {
    if (e == IccAp0rEl1(n)) return IccTrapClass::kGroup0;
    if (e == IccAp1rEl1(n)) return IccTrapClass::kGroup1;
  }
  return IccTrapClass::kNone;
}

// ICC_CTLR_EL1 as a vCPU sees it: ICV_CTLR_EL1 (IHI 0069; Linux arm-gic-v3.h ICC_CTLR_EL1_*).
class IccCtlr : public reg::Register<IccCtlr, 64> {
 public:
  IRQVIRT_REGISTER("IccCtlr");
  IRQVIRT_FIELD(0, 0, cbpr);     // CBPR: BPR0 also sets Group 1 preemption
  IRQVIRT_FIELD(1, 1, eoimode);  // EOImode: EOIR drops priority only, DIR deactivates
  IRQVIRT_RESERVED(7, 2);
  IRQVIRT_FIELD(10, 8, pri_bits);  // PRIbits: priority bits - 1 (read-only)
  IRQVIRT_FIELD(13, 11, id_bits);  // IDbits: 0 = 16-bit INTIDs, 1 = 24-bit (read-only)
  IRQVIRT_FIELD(14, 14, seis);     // SEIS (read-only)
  IRQVIRT_FIELD(15, 15, a3v);      // A3V: Aff3 supported (read-only)
  IRQVIRT_RESERVED(17, 16);
  IRQVIRT_FIELD(18, 18, rss);       // RSS: SGI target range selector support (read-only)
  IRQVIRT_FIELD(19, 19, extrange);  // ExtRange (read-only)
  IRQVIRT_RESERVED(63, 20);
};

static_assert(reg::LayoutIsComplete<IccCtlr>());

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_ICC_SYSREGS_H_
