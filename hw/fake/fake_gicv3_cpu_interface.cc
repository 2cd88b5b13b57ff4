// SPDX-License-Identifier: MIT
#include "hw/fake/fake_gicv3_cpu_interface.h"

#include <algorithm>
#include <bit>

#include "hw/arm/icc_sysregs.h"

namespace hw::fake {

using arm::IchLrStateOf;
using arm::kIchLrActiveBit;
using arm::kIchLrPendingBit;
using arm::LrState;

FakeGicV3CpuInterface::FakeGicV3CpuInterface(Config config, PhysicalGic* physical)
    : config_(config), physical_(physical) {
  vtr_.set_list_regs(static_cast<uint64_t>(config.num_list_registers - 1))
      .set_tds(config.tdir_supported ? 1 : 0)
      .set_id_bits(0)
      .set_pre_bits(4)
      .set_pri_bits(4);
}

uint64_t FakeGicV3CpuInterface::Read(arm::SysRegEncoding e) {
  if (e == arm::kIchHcrEl2) return hcr_.raw();
  if (e == arm::kIchVtrEl2) return vtr_.raw();
  if (e == arm::kIchMisrEl2) return misr().raw();
  if (e == arm::kIchEisrEl2) return eisr();
  if (e == arm::kIchElrsrEl2) return elrsr();
  if (e == arm::kIchVmcrEl2) return vmcr_.raw();
  if (e == arm::IchAp0rEl2(0)) return apr_[0];
  if (e == arm::IchAp1rEl2(0)) return apr_[1];
  for (int n = 0; n < arm::kMaxListRegisters; ++n) {
    if (e == arm::IchLrEl2(n)) {
      if (n < config_.num_list_registers) return lr_[n];
      break;
    }
  }
  ++bad_accesses_;
  return 0;
}

void FakeGicV3CpuInterface::Write(arm::SysRegEncoding e, uint64_t value) {
  if (e == arm::kIchHcrEl2) {
    hcr_ = arm::IchHcr::FromRaw(value & ~arm::IchHcr::ReservedMask(0));
    if (!config_.tdir_supported) hcr_.set_tdir(0);  // RES0 without ICH_VTR_EL2.TDS
    return;
  }
  if (e == arm::kIchVmcrEl2) {
    vmcr_ = arm::IchVmcr::FromRaw(value & ~arm::IchVmcr::ReservedMask(0));
    return;
  }
  if (e == arm::IchAp0rEl2(0)) {
    apr_[0] = static_cast<uint32_t>(value);
    return;
  }
  if (e == arm::IchAp1rEl2(0)) {
    apr_[1] = static_cast<uint32_t>(value);
    return;
  }
  for (int n = 0; n < config_.num_list_registers; ++n) {
    if (e == arm::IchLrEl2(n)) {
      lr_[n] = value;
      return;
    }
  }
  ++bad_accesses_;  // read-only, or an LR this CPU does not have
}

uint8_t FakeGicV3CpuInterface::RunningPriority() const {
  const uint32_t any = apr_[0] | apr_[1];
  if (any == 0) return 0xff;
  return static_cast<uint8_t>(std::countr_zero(any) << 3);
}

int FakeGicV3CpuInterface::HighestPendingLr() const {
  int best = -1;
  uint8_t best_priority = 0xff;
  for (int n = 0; n < config_.num_list_registers; ++n) {
    const uint64_t lr = lr_[n];
    if (IchLrStateOf(lr) != LrState::kPending) continue;
    const auto v = arm::IchLrVirtual::FromRaw(lr);
    if (!GroupEnabled(static_cast<int>(v.group()))) continue;
    const uint8_t priority = static_cast<uint8_t>(v.priority()) & kPriorityMask;
    if (best < 0 || priority < best_priority) {  // ties: the lowest-numbered LR
      best = n;
      best_priority = priority;
    }
  }
  return best;
}

uint32_t FakeGicV3CpuInterface::Acknowledge(int group) {
  const int n = HighestPendingLr();
  if (n < 0) return kSpuriousIntid;
  const auto v = arm::IchLrVirtual::FromRaw(lr_[n]);
  if (static_cast<int>(v.group()) != group) return kSpuriousIntid;
  const uint8_t priority = static_cast<uint8_t>(v.priority()) & kPriorityMask;
  if (priority >= (vmcr_.vpmr() & kPriorityMask)) return kSpuriousIntid;  // masked
  const uint8_t group_priority = GroupPriority(priority, group);
  if (group_priority >= RunningPriority()) return kSpuriousIntid;  // cannot preempt
  lr_[n] = (lr_[n] & ~kIchLrPendingBit) | kIchLrActiveBit;
  apr_[group] |= uint32_t{1} << (group_priority >> 3);
  return static_cast<uint32_t>(v.vintid());
}

int FakeGicV3CpuInterface::FindActiveLr(uint32_t intid) const {
  for (int n = 0; n < config_.num_list_registers; ++n) {
    if ((lr_[n] & kIchLrActiveBit) != 0 && arm::IchLrVintid(lr_[n]) == intid) return n;
  }
  return -1;
}

void FakeGicV3CpuInterface::DeactivateLr(int n) {
  if (arm::IchLrIsHw(lr_[n]) && physical_ != nullptr) {
    physical_->Deactivate(static_cast<uint32_t>(arm::IchLrHardware::FromRaw(lr_[n]).pintid()));
  }
  lr_[n] &= ~kIchLrActiveBit;  // Active -> Invalid, Active+Pending -> Pending
}

void FakeGicV3CpuInterface::IncrementEoiCount(uint32_t intid) {
  // vSGIEOICount: deactivating a virtual SGI does not count (IHI 0069, ICH_HCR_EL2).
  if (intid < 16 && hcr_.vsgieoicount()) return;
  hcr_.set_eoicount((hcr_.eoicount() + 1) & 0x1f);  // a 5-bit counter that wraps
}

void FakeGicV3CpuInterface::EndOfInterrupt(int group, uint32_t intid) {
  // Priority drop: the highest active priority, group 0 first on a tie (IHI 0069 §4.1.1).
  const uint32_t any = apr_[0] | apr_[1];
  if (any == 0) return;  // nothing active: CONSTRAINED UNPREDICTABLE; no effect
  const int bit = std::countr_zero(any);
  const int dropped_group = (apr_[0] >> bit) & 1 ? 0 : 1;
  apr_[dropped_group] &= ~(uint32_t{1} << bit);
  if (eoi_mode_split()) return;  // EOImode 1: priority drop only
  const int n = FindActiveLr(intid);
  if (n < 0) {
    IncrementEoiCount(intid);  // would have deactivated an interrupt that is not in an LR
    return;
  }
  const auto v = arm::IchLrVirtual::FromRaw(lr_[n]);
  if (static_cast<int>(v.group()) == group &&
      (GroupPriority(static_cast<uint8_t>(v.priority()), group) >> 3) == bit) {
    DeactivateLr(n);
  }
}

DirOutcome FakeGicV3CpuInterface::Deactivate(uint32_t intid) {
  if (hcr_.tdir() || hcr_.tc()) return DirOutcome::kTrapped;
  if (!eoi_mode_split()) return DirOutcome::kIgnored;
  const int n = FindActiveLr(intid);
  if (n < 0) {
    IncrementEoiCount(intid);
  } else {
    DeactivateLr(n);
  }
  return DirOutcome::kDone;
}

uint64_t FakeGicV3CpuInterface::Bpr0() const { return std::max<uint64_t>(vmcr_.vbpr0(), kMinBpr0); }

uint64_t FakeGicV3CpuInterface::Bpr1() const {
  if (vmcr_.vcbpr()) return std::min<uint64_t>(Bpr0() + 1, 7);
  return std::max<uint64_t>(vmcr_.vbpr1(), kMinBpr0 + 1);
}

uint8_t FakeGicV3CpuInterface::GroupPriority(uint8_t priority, int group) const {
  const uint64_t low_bits = group == 0 || vmcr_.vcbpr() ? Bpr0() + 1 : Bpr1();
  return static_cast<uint8_t>(priority & kPriorityMask & (0xffu << low_bits));
}

bool FakeGicV3CpuInterface::Traps(arm::SysRegEncoding reg) const {
  if (reg == arm::kIccDirEl1 && hcr_.tdir()) return true;
  switch (arm::TrapClassOf(reg)) {
    case arm::IccTrapClass::kCommon:
      return hcr_.tc() != 0;
    case arm::IccTrapClass::kGroup0:
      return hcr_.tall0() != 0;
    case arm::IccTrapClass::kGroup1:
      return hcr_.tall1() != 0;
    case arm::IccTrapClass::kNone:
      return false;
  }
  return false;
}

FakeGicV3CpuInterface::GuestAccess FakeGicV3CpuInterface::GuestRead(arm::SysRegEncoding reg) {
  if (Traps(reg)) return {.trapped = true};
  return Perform(reg, false, 0);
}

FakeGicV3CpuInterface::GuestAccess FakeGicV3CpuInterface::GuestWrite(arm::SysRegEncoding reg,
                                                                     uint64_t value) {
  if (Traps(reg)) return {.trapped = true};
  return Perform(reg, true, value);
}

FakeGicV3CpuInterface::GuestAccess FakeGicV3CpuInterface::Perform(arm::SysRegEncoding reg,
                                                                  bool is_write, uint64_t value) {
  using namespace arm;  // NOLINT: the ICC_* encodings
  auto bad = [this] {
    ++bad_accesses_;
    return GuestAccess{};
  };
  auto read = [](uint64_t v) { return GuestAccess{.value = v}; };
  const int group = TrapClassOf(reg) == IccTrapClass::kGroup0 ? 0 : 1;
  if (reg == kIccIar0El1 || reg == kIccIar1El1) {
    return is_write ? bad() : read(Acknowledge(group));
  }
  if (reg == kIccEoir0El1 || reg == kIccEoir1El1) {
    if (!is_write) return bad();
    EndOfInterrupt(group, static_cast<uint32_t>(value & 0xffffff));
    return {};
  }
  if (reg == kIccHppir0El1 || reg == kIccHppir1El1) {
    if (is_write) return bad();
    const int n = HighestPendingLr();
    if (n < 0) return read(kSpuriousIntid);
    const auto v = IchLrVirtual::FromRaw(lr_[n]);
    return read(static_cast<int>(v.group()) == group ? v.vintid() : kSpuriousIntid);
  }
  if (reg == kIccRprEl1) return is_write ? bad() : read(RunningPriority());
  if (reg == kIccPmrEl1) {
    if (!is_write) return read(vmcr_.vpmr());
    SetPriorityMask(static_cast<uint8_t>(value));
    return {};
  }
  if (reg == kIccBpr0El1) {
    if (!is_write) return read(Bpr0());
    vmcr_.set_vbpr0(std::max<uint64_t>(value & 7, kMinBpr0));
    return {};
  }
  if (reg == kIccBpr1El1) {
    if (!is_write) return read(Bpr1());
    if (!vmcr_.vcbpr()) vmcr_.set_vbpr1(std::max<uint64_t>(value & 7, kMinBpr0 + 1));
    return {};
  }
  if (reg == kIccCtlrEl1) {
    if (is_write) {
      vmcr_.set_vcbpr(value & 1).set_veoim((value >> 1) & 1);
      return {};
    }
    IccCtlr c;
    c.set_cbpr(vmcr_.vcbpr())
        .set_eoimode(vmcr_.veoim())
        .set_pri_bits(vtr_.pri_bits())
        .set_id_bits(vtr_.id_bits())
        .set_seis(vtr_.seis())
        .set_a3v(vtr_.a3v());
    return read(c.raw());
  }
  if (reg == kIccIgrpen0El1 || reg == kIccIgrpen1El1) {
    if (!is_write) return read(group == 0 ? vmcr_.veng0() : vmcr_.veng1());
    SetGroupEnable(group, (value & 1) != 0);
    return {};
  }
  if (reg == IccAp0rEl1(0) || reg == IccAp1rEl1(0)) {
    const int g = reg == IccAp0rEl1(0) ? 0 : 1;
    if (!is_write) return read(apr_[g]);
    apr_[g] = static_cast<uint32_t>(value);
    return {};
  }
  if (reg == kIccDirEl1) {
    if (!is_write) return bad();
    Deactivate(static_cast<uint32_t>(value & 0xffffff));
    return {};
  }
  return bad();  // the SGI registers trap on every VM; other APRs do not exist here
}

void FakeGicV3CpuInterface::SetPriorityMask(uint8_t pmr) { vmcr_.set_vpmr(pmr & kPriorityMask); }

void FakeGicV3CpuInterface::SetGroupEnable(int group, bool enabled) {
  if (group == 0) {
    vmcr_.set_veng0(enabled ? 1 : 0);
  } else {
    vmcr_.set_veng1(enabled ? 1 : 0);
  }
}

void FakeGicV3CpuInterface::SetEoiMode(bool split) { vmcr_.set_veoim(split ? 1 : 0); }

uint64_t FakeGicV3CpuInterface::eisr() const {
  uint64_t bits = 0;
  for (int n = 0; n < config_.num_list_registers; ++n) {
    if (arm::IchLrSignalsEoi(lr_[n])) bits |= uint64_t{1} << n;
  }
  return bits;
}

uint64_t FakeGicV3CpuInterface::elrsr() const {
  uint64_t bits = 0;
  for (int n = 0; n < config_.num_list_registers; ++n) {
    if (IchLrStateOf(lr_[n]) == LrState::kInvalid && !arm::IchLrSignalsEoi(lr_[n])) {
      bits |= uint64_t{1} << n;
    }
  }
  return bits;
}

arm::IchMisr FakeGicV3CpuInterface::misr() const {
  int valid = 0;
  bool any_pending = false;
  for (int n = 0; n < config_.num_list_registers; ++n) {
    const LrState s = IchLrStateOf(lr_[n]);
    if (s != LrState::kInvalid) ++valid;
    if (s == LrState::kPending) any_pending = true;
  }
  arm::IchMisr m;
  m.set_eoi(eisr() != 0 ? 1 : 0)
      .set_u(hcr_.uie() && valid < 2 ? 1 : 0)
      .set_lrenp(hcr_.lrenpie() && hcr_.eoicount() != 0 ? 1 : 0)
      .set_np(hcr_.npie() && !any_pending ? 1 : 0)
      .set_vgrp0e(hcr_.vgrp0eie() && vmcr_.veng0() ? 1 : 0)
      .set_vgrp0d(hcr_.vgrp0die() && !vmcr_.veng0() ? 1 : 0)
      .set_vgrp1e(hcr_.vgrp1eie() && vmcr_.veng1() ? 1 : 0)
      .set_vgrp1d(hcr_.vgrp1die() && !vmcr_.veng1() ? 1 : 0);
  return m;
}

bool FakeGicV3CpuInterface::maintenance_interrupt() const {
  return hcr_.en() && misr().raw() != 0;
}

}  // namespace hw::fake
