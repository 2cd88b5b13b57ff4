// SPDX-License-Identifier: MIT
#include "hw/fake/gic_guest.h"

#include "hw/arm/icc_sysregs.h"

namespace hw::fake {

uint32_t GicGuest::Acknowledge(int group) {
  const uint32_t intid = cpu_.GroupRegistersTrap(group)
                             ? static_cast<uint32_t>(host_.SysRegTrapped(
                                   group == 0 ? arm::kIccIar0El1 : arm::kIccIar1El1, false, 0))
                             : cpu_.Acknowledge(group);
  if (intid != kSpuriousIntid && stack_size_ < kCapacity) stack_[stack_size_++] = {intid, group};
  host_.AfterGuestOperation();
  return intid;
}

uint32_t GicGuest::EoiNewest() {
  if (stack_size_ == 0) return kSpuriousIntid;
  const Taken t = stack_[--stack_size_];
  const bool split = cpu_.eoi_mode_split();
  if (cpu_.GroupRegistersTrap(t.group)) {
    host_.SysRegTrapped(t.group == 0 ? arm::kIccEoir0El1 : arm::kIccEoir1El1, true, t.intid);
  } else {
    cpu_.EndOfInterrupt(t.group, t.intid);
  }
  if (split && waiting_size_ < kCapacity) waiting_[waiting_size_++] = t.intid;
  host_.AfterGuestOperation();
  return t.intid;
}

uint32_t GicGuest::TakeWaiting(int i) {
  if (i < 0 || i >= waiting_size_) return kSpuriousIntid;
  const uint32_t intid = waiting_[i];
  for (int j = i; j + 1 < waiting_size_; ++j) waiting_[j] = waiting_[j + 1];
  --waiting_size_;
  return intid;
}

uint32_t GicGuest::DeactivateWaiting(int i) {
  const uint32_t intid = TakeWaiting(i);
  if (intid != kSpuriousIntid) Dir(intid);
  return intid;
}

void GicGuest::Dir(uint32_t value) {
  if (cpu_.Deactivate(value) == DirOutcome::kTrapped) {
    host_.DirTrapped(value);
  } else {
    host_.AfterGuestOperation();
  }
}

}  // namespace hw::fake
