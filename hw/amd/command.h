// SPDX-License-Identifier: MIT
// AMD IOMMU command buffer entries (16 bytes) used for interrupt remapping.
// Sources: AMD IOMMU spec 48882 §2.4 "Commands" (COMPLETION_WAIT §2.4.1,
// INVALIDATE_INTERRUPT_TABLE §2.4.5); Linux drivers/iommu/amd/iommu.c build_completion_wait,
// build_inv_irt, CMD_SET_TYPE (opcode in data[1] bits 31:28).
#ifndef IRQVIRT_HW_AMD_COMMAND_H_
#define IRQVIRT_HW_AMD_COMMAND_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

enum class CommandOpcode : uint8_t {
  kCompletionWait = 0x01,
  kInvalidateDevTabEntry = 0x02,
  kInvalidateIommuPages = 0x03,
  kInvalidateIotlbPages = 0x04,
  kInvalidateInterruptTable = 0x05,
  kInvalidateAll = 0x08,
};

inline constexpr uint32_t kCommandBytes = 16;

// COMPLETION_WAIT: once every earlier command has completed, optionally store `store_data` at
// the 8-byte aligned `store_address` (S = 1) and/or raise ComWaitInt (I = 1).
class CompletionWaitCommand : public reg::Register<CompletionWaitCommand, 128> {
 public:
  IRQVIRT_REGISTER("CompletionWaitCommand");
  IRQVIRT_FIELD(0, 0, store);             // S (CMD_COMPL_WAIT_STORE_MASK)
  IRQVIRT_FIELD(1, 1, interrupt);         // I (CMD_COMPL_WAIT_INT_MASK)
  IRQVIRT_FIELD(2, 2, flush_queue);       // F
  IRQVIRT_FIELD(31, 3, store_address_lo);  // StoreAddr[31:3]
  IRQVIRT_FIELD(51, 32, store_address_hi);  // StoreAddr[51:32]
  IRQVIRT_RESERVED(59, 52);
  IRQVIRT_FIELD(63, 60, opcode);          // 0x1
  IRQVIRT_FIELD(127, 64, store_data);     // StoreData[63:0]

  constexpr uint64_t store_address() const {
    return (store_address_lo() << 3) | (store_address_hi() << 32);
  }
  // `pa` must be 8-byte aligned and below 2^52.
  constexpr CompletionWaitCommand& set_store_address(uint64_t pa) {
    set_store_address_lo((pa & 0xffffffffu) >> 3);
    return set_store_address_hi(pa >> 32);
  }
  static constexpr CompletionWaitCommand Store(uint64_t pa, uint64_t data) {
    CompletionWaitCommand c;
    c.set_opcode(static_cast<uint64_t>(CommandOpcode::kCompletionWait)).set_store(1);
    c.set_store_address(pa).set_store_data(data);
    return c;
  }
};

// INVALIDATE_INTERRUPT_TABLE: drops the IOMMU's cached IRTEs of one device.
class InvalidateInterruptTableCommand : public reg::Register<InvalidateInterruptTableCommand, 128> {
 public:
  IRQVIRT_REGISTER("InvalidateInterruptTableCommand");
  IRQVIRT_FIELD(15, 0, device_id);  // DeviceID (build_inv_irt: data[0] = devid)
  IRQVIRT_RESERVED(59, 16);
  IRQVIRT_FIELD(63, 60, opcode);    // 0x5 (CMD_INV_IRT)
  IRQVIRT_RESERVED(127, 64);

  static constexpr InvalidateInterruptTableCommand ForDevice(uint16_t device_id) {
    InvalidateInterruptTableCommand c;
    c.set_opcode(static_cast<uint64_t>(CommandOpcode::kInvalidateInterruptTable));
    return c.set_device_id(device_id);
  }
};

// INVALIDATE_DEVTAB_ENTRY: drops the IOMMU's cached copy of one device table entry (Linux
// build_inv_dte: data[0] = devid, CMD_INV_DEV_ENTRY = 0x02).
class InvalidateDevTabEntryCommand : public reg::Register<InvalidateDevTabEntryCommand, 128> {
 public:
  IRQVIRT_REGISTER("InvalidateDevTabEntryCommand");
  IRQVIRT_FIELD(15, 0, device_id);  // DeviceID
  IRQVIRT_RESERVED(59, 16);
  IRQVIRT_FIELD(63, 60, opcode);    // 0x2
  IRQVIRT_RESERVED(127, 64);

  static constexpr InvalidateDevTabEntryCommand ForDevice(uint16_t device_id) {
    InvalidateDevTabEntryCommand c;
    c.set_opcode(static_cast<uint64_t>(CommandOpcode::kInvalidateDevTabEntry));
    return c.set_device_id(device_id);
  }
};

static_assert(reg::LayoutIsComplete<CompletionWaitCommand>());
static_assert(reg::LayoutIsComplete<InvalidateDevTabEntryCommand>());
static_assert(reg::LayoutIsComplete<InvalidateInterruptTableCommand>());

// The opcode sits at bits 63:60 of every command.
constexpr uint8_t CommandOpcodeOf(uint64_t lo) { return static_cast<uint8_t>(lo >> 60); }

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_COMMAND_H_
