// SPDX-License-Identifier: MIT
// One 8-byte GA log entry, written by the IOMMU when a guest-mode interrupt arrives for a vCPU
// that is not running (IsRun = 0) and GALogIntr = 1.
// Sources: AMD IOMMU spec 48882 §2.7.3 "Guest Virtual APIC Log"; Linux amd_iommu_types.h
// (GA_TAG, GA_DEVID, GA_REQ_TYPE, GA_GUEST_NR).
#ifndef IRQVIRT_HW_AMD_GA_LOG_ENTRY_H_
#define IRQVIRT_HW_AMD_GA_LOG_ENTRY_H_

#include <cstdint>

#include "hw/reg/register.h"

namespace hw::amd {

// GA log event types (GA_REQ_TYPE). Only "guest interrupt, vCPU not running" is defined.
inline constexpr uint64_t kGaLogGuestNotRunning = 0x1;

class GaLogEntry : public reg::Register<GaLogEntry, 64> {
 public:
  IRQVIRT_REGISTER("GaLogEntry");
  IRQVIRT_FIELD(31, 0, ga_tag);       // GATag from the IRTE (GA_TAG)
  IRQVIRT_FIELD(47, 32, device_id);   // requester device ID (GA_DEVID)
  IRQVIRT_RESERVED(59, 48);
  IRQVIRT_FIELD(63, 60, event_type);  // kGaLogGuestNotRunning (GA_REQ_TYPE)
};

static_assert(reg::LayoutIsComplete<GaLogEntry>());

}  // namespace hw::amd

#endif  // IRQVIRT_HW_AMD_GA_LOG_ENTRY_H_
