// SPDX-License-Identifier: MIT
#include "hw/fake/fake_gicv2_cpu_interface.h"

#include <algorithm>

#include "hw/arm/gicv2_translation.h"
#include "hw/arm/gicv3_regs.h"

namespace hw::fake {

namespace {

// The LR engine holds up to 16 LRs (the abstract state's count); a count outside 1..16 is
// clamped rather than indexing past its registers.
FakeGicV2CpuInterface::Config Clamped(FakeGicV2CpuInterface::Config c) {
  c.num_list_registers = std::clamp(c.num_list_registers, 1, arm::kMaxListRegisters);
  return c;
}

}  // namespace

FakeGicV2CpuInterface::FakeGicV2CpuInterface(Config config, PhysicalGic* physical)
    : config_(Clamped(config)),
      lrs_({.num_list_registers = config_.num_list_registers, .tdir_supported = false}, physical) {
  // 5 priority and 5 preemption bits, as the LR engine implements.
  vtr_.set_list_regs(static_cast<uint64_t>(config_.num_list_registers - 1))
      .set_pre_bits(4)
      .set_pri_bits(4);
}

int FakeGicV2CpuInterface::LrIndex(uint32_t offset) const {
  if (offset < arm::kGichLr0 || offset % 4 != 0) return -1;
  const uint32_t n = (offset - arm::kGichLr0) / 4;
  return n < static_cast<uint32_t>(config_.num_list_registers) ? static_cast<int>(n) : -1;
}

uint32_t FakeGicV2CpuInterface::Read32(uint32_t offset) {
  switch (offset) {
    case arm::kGichHcr:
      return hcr().raw();
    case arm::kGichVtr:
      return vtr_.raw();
    case arm::kGichVmcr:
      return arm::GichVmcrFromIchVmcr(lrs_.Read(arm::kIchVmcrEl2));
    case arm::kGichMisr:
      return arm::GichMisrFromIchMisr(lrs_.misr().raw());
    case arm::kGichEisr0:
      return static_cast<uint32_t>(lrs_.eisr());
    case arm::kGichElrsr0:
      return static_cast<uint32_t>(lrs_.elrsr());
    case arm::kGichEisr1:
    case arm::kGichElrsr1:
      return 0;  // LRs 32..63: this fake has at most 16
    case arm::kGichApr:
      return static_cast<uint32_t>(lrs_.Read(arm::IchAp0rEl2(0)) | lrs_.Read(arm::IchAp1rEl2(0)));
    default:
      break;
  }
  const int n = LrIndex(offset);
  if (n < 0) return Bad();
  return lr(n);
}

void FakeGicV2CpuInterface::Write32(uint32_t offset, uint32_t value) {
  switch (offset) {
    case arm::kGichHcr:
      lrs_.Write(arm::kIchHcrEl2, arm::IchHcrFromGichHcr(value));
      return;
    case arm::kGichVmcr:
      lrs_.Write(arm::kIchVmcrEl2, arm::IchVmcrFromGichVmcr(value));
      return;
    case arm::kGichApr:
      // One register for both groups: the engine's Group 1 APR holds it all (the priority drop
      // takes the highest active priority from either).
      lrs_.Write(arm::IchAp0rEl2(0), 0);
      lrs_.Write(arm::IchAp1rEl2(0), value);
      return;
    default:
      break;
  }
  const int n = LrIndex(offset);
  if (n < 0) {
    Bad();  // read-only, or not a register this CPU has
    return;
  }
  lrs_.Write(arm::IchLrEl2(n), arm::IchLrFromGichLr(value));
}

uint64_t FakeGicV2CpuInterface::Read64(uint32_t /*offset*/) { return Bad(); }

void FakeGicV2CpuInterface::Write64(uint32_t /*offset*/, uint64_t /*value*/) { Bad(); }

uint32_t FakeGicV2CpuInterface::lr(int n) const { return arm::GichLrFromIchLr(lrs_.lr(n)); }

arm::GichHcr FakeGicV2CpuInterface::hcr() const {
  return arm::GichHcr::FromRaw(arm::GichHcrFromIchHcr(lrs_.hcr().raw()));
}

uint32_t FakeGicV2CpuInterface::Acknowledge(int group) { return lrs_.Acknowledge(group); }

// GICV_EOIR and GICV_DIR carry InterruptID[9:0] and CPUID[12:10]; the rest is reserved. The LRs
// hold VirtualID | CPUID << 10 as their vINTID, so a write matches an LR only with the sender it
// was acknowledged with.
constexpr uint32_t kGicvInterruptAndCpuId = 0x1fff;

void FakeGicV2CpuInterface::EndOfInterrupt(int group, uint32_t value) {
  lrs_.EndOfInterrupt(group, value & kGicvInterruptAndCpuId);
}

DirOutcome FakeGicV2CpuInterface::Deactivate(uint32_t value) {
  if (config_.dir_page_mapped) return lrs_.Deactivate(value & kGicvInterruptAndCpuId);
  ++dir_traps_;
  return DirOutcome::kTrapped;
}

}  // namespace hw::fake
