// SPDX-License-Identifier: MIT
// The per-interrupt register arrays a GIC distributor and a GICv3 redistributor's SGI_base frame
// share (IGROUPR, ISENABLER/ICENABLER, ISPENDR/ICPENDR, ISACTIVER/ICACTIVER, IPRIORITYR, ICFGR),
// emulated over the vGIC core's interrupt state. One bank is the INTIDs one frame exposes for
// one owner vCPU; INTIDs outside it read as zero and ignore writes, as do accesses of a width or
// alignment the array does not have (IHI 0048B §4.1.4, IHI 0069 §12.1.3: 32-bit words, and bytes
// for IPRIORITYR; anything else is UNPREDICTABLE, and RAZ/WI is one of its permitted outcomes).
// Cold path: each interrupt is read or changed under its own lock, one at a time.
#ifndef IRQVIRT_VGIC_INTERRUPT_REGISTERS_H_
#define IRQVIRT_VGIC_INTERRUPT_REGISTERS_H_

#include <cstdint>
#include <optional>

#include "hw/arm/gic_distributor_regs.h"
#include "irqvirt/vgic/vgic.h"
#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

// Priority bits the emulation implements: the top 5, as a GICv2 list register carries
// (GICH_LR.Priority is bits 7:3) and as KVM implements for either guest. The architecture asks
// for at least 4 (IHI 0048B §3.3, IHI 0069 §4.8); the unimplemented low bits read as zero.
inline constexpr uint8_t kImplementedPriorityMask = 0xf8;

enum class IrqArray : uint8_t {
  kGroup,
  kSetEnable,
  kClearEnable,
  kSetPending,
  kClearPending,
  kSetActive,
  kClearActive,
  kPriority,
  kConfig,
};

struct IrqArrayOffset {
  IrqArray array;
  uint32_t byte;  // offset into the array
};

// Which array `offset` (from the GICD frame or the GICR SGI_base frame) falls in.
inline std::optional<IrqArrayOffset> DecodeIrqArray(uint64_t offset) {
  struct Range {
    uint32_t base, size;
    IrqArray array;
  };
  static constexpr Range kRanges[] = {
      {hw::arm::kGicdIgroupr, 0x80, IrqArray::kGroup},
      {hw::arm::kGicdIsenabler, 0x80, IrqArray::kSetEnable},
      {hw::arm::kGicdIcenabler, 0x80, IrqArray::kClearEnable},
      {hw::arm::kGicdIspendr, 0x80, IrqArray::kSetPending},
      {hw::arm::kGicdIcpendr, 0x80, IrqArray::kClearPending},
      {hw::arm::kGicdIsactiver, 0x80, IrqArray::kSetActive},
      {hw::arm::kGicdIcactiver, 0x80, IrqArray::kClearActive},
      {hw::arm::kGicdIpriorityr, 0x400, IrqArray::kPriority},
      {hw::arm::kGicdIcfgr, 0x100, IrqArray::kConfig},
  };
  for (const Range& r : kRanges) {
    if (offset >= r.base && offset < r.base + r.size) {
      return IrqArrayOffset{r.array, static_cast<uint32_t>(offset - r.base)};
    }
  }
  return std::nullopt;
}

// INTIDs [first, end) of `owner`'s view, accessed by vCPU `accessor`.
template <typename P>
class IrqBank {
 public:
  IrqBank(Vgic<P>& vgic, uint32_t accessor, uint32_t owner, uint32_t first, uint32_t end)
      : vgic_(vgic), accessor_(accessor), owner_(owner), first_(first), end_(end) {}

  uint32_t Read(IrqArrayOffset at, uint32_t size) {
    if (!WidthOk(at, size)) return 0;
    if (at.array == IrqArray::kPriority) {
      uint32_t value = 0;
      for (uint32_t i = 0; i < size; ++i) value |= uint32_t{ReadPriority(at.byte + i)} << (8 * i);
      return value;
    }
    if (at.array == IrqArray::kConfig) {
      uint32_t value = 0;
      for (uint32_t i = 0; i < 16; ++i) value |= ReadConfig(at.byte * 4 + i) << (2 * i);
      return value;
    }
    uint32_t value = 0;
    for (uint32_t i = 0; i < 32; ++i) value |= uint32_t{ReadBit(at.array, at.byte * 8 + i)} << i;
    return value;
  }

  void Write(IrqArrayOffset at, uint32_t size, uint32_t value) {
    if (!WidthOk(at, size)) return;
    if (at.array == IrqArray::kPriority) {
      for (uint32_t i = 0; i < size; ++i) {
        WritePriority(at.byte + i, static_cast<uint8_t>(value >> (8 * i)));
      }
      return;
    }
    if (at.array == IrqArray::kConfig) {
      for (uint32_t i = 0; i < 16; ++i) WriteConfig(at.byte * 4 + i, (value >> (2 * i)) & 3);
      return;
    }
    for (uint32_t i = 0; i < 32; ++i) WriteBit(at.array, at.byte * 8 + i, ((value >> i) & 1) != 0);
  }

 private:
  static bool WidthOk(IrqArrayOffset at, uint32_t size) {
    const bool bytes_ok = at.array == IrqArray::kPriority;
    if (size != 4 && !(bytes_ok && size == 1)) return false;
    return at.byte % size == 0;
  }

  bool Exists(uint32_t intid) const { return intid >= first_ && intid < end_; }

  std::optional<IrqSnapshot> Get(uint32_t intid) {
    if (!Exists(intid)) return std::nullopt;
    absl::StatusOr<IrqSnapshot> s = vgic_.Snapshot(owner_, intid);
    if (!s.ok()) return std::nullopt;
    return *s;
  }

  bool ReadBit(IrqArray array, uint32_t intid) {
    const std::optional<IrqSnapshot> s = Get(intid);
    if (!s) return false;
    switch (array) {
      case IrqArray::kGroup:
        return s->group != 0;
      case IrqArray::kSetEnable:
      case IrqArray::kClearEnable:
        return s->enabled;
      case IrqArray::kSetPending:
      case IrqArray::kClearPending:
        return s->pending_latch || (s->trigger == Trigger::kLevel && s->line_level);
      case IrqArray::kSetActive:
      case IrqArray::kClearActive:
        return s->active;
      default:
        return false;
    }
  }

  // Results are ignored on purpose: a refusal is the architectural "no effect" (e.g. a GICv2
  // SGI's ISPENDR bit, which is WI; IHI 0048B §4.3.7).
  void WriteBit(IrqArray array, uint32_t intid, bool bit) {
    if (!Exists(intid)) return;
    const bool v2_sgi = vgic_.guest_model() == GuestModel::kGicV2 && intid < kNumSgis;
    switch (array) {
      case IrqArray::kGroup:
        (void)vgic_.SetGroup(owner_, intid, bit ? 1 : 0);
        return;
      case IrqArray::kSetEnable:
      case IrqArray::kClearEnable:
        if (bit) (void)vgic_.SetEnabled(owner_, intid, array == IrqArray::kSetEnable);
        return;
      case IrqArray::kSetPending:
      case IrqArray::kClearPending:
        if (bit && !v2_sgi) {
          (void)vgic_.SetPendingLatch(owner_, intid, array == IrqArray::kSetPending);
        }
        return;
      case IrqArray::kSetActive:
      case IrqArray::kClearActive:
        if (bit) (void)vgic_.SetActive(accessor_, owner_, intid, array == IrqArray::kSetActive);
        return;
      default:
        return;
    }
  }

  uint8_t ReadPriority(uint32_t intid) {
    const std::optional<IrqSnapshot> s = Get(intid);
    return s ? static_cast<uint8_t>(s->priority & kImplementedPriorityMask) : 0;
  }
  void WritePriority(uint32_t intid, uint8_t priority) {
    if (!Exists(intid)) return;
    (void)vgic_.SetPriority(owner_, intid,
                            static_cast<uint8_t>(priority & kImplementedPriorityMask));
  }

  // SGIs read as edge-triggered and ignore writes (IHI 0048B §4.3.13, IHI 0069 §12.11.7);
  // PPIs and SPIs are programmable. Bit 0 of each field is reserved: RAZ/WI.
  uint32_t ReadConfig(uint32_t intid) {
    const std::optional<IrqSnapshot> s = Get(intid);
    if (!s) return 0;
    return intid < kNumSgis || s->trigger == Trigger::kEdge ? hw::arm::kIcfgrEdgeBit : 0;
  }
  void WriteConfig(uint32_t intid, uint32_t field) {
    if (!Exists(intid) || intid < kNumSgis) return;
    (void)vgic_.SetTrigger(
        owner_, intid, (field & hw::arm::kIcfgrEdgeBit) != 0 ? Trigger::kEdge : Trigger::kLevel);
  }

  Vgic<P>& vgic_;
  uint32_t accessor_;
  uint32_t owner_;
  uint32_t first_;
  uint32_t end_;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_INTERRUPT_REGISTERS_H_
