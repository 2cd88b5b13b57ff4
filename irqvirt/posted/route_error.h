// SPDX-License-Identifier: MIT
// What went wrong in a posted-interrupt routing operation. Hot paths (load, put, block) return
// this small value (no allocation); cold callers turn it into an absl::Status that names the vCPU
// and the IRTE.
#ifndef IRQVIRT_IRQVIRT_POSTED_ROUTE_ERROR_H_
#define IRQVIRT_IRQVIRT_POSTED_ROUTE_ERROR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "hw/amd/iommu.h"
#include "irqvirt/wakeup/park_error.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::posted {

// An IRTE: the requester (device) ID whose table holds it, and its index in that table.
struct IrteRef {
  uint16_t device_id = 0;
  uint16_t index = 0;
  friend bool operator==(const IrteRef&, const IrteRef&) = default;
};

enum class RouteErrorCode : uint8_t {
  kNone,
  kUnknownVcpu,  // not added, or id out of range
  kUnknownCpu,   // negative or beyond the platform
  kHardware,     // an IRTE write or its invalidation failed; see `command`
  kNotParked,    // the wakeup queues refused to park the vCPU; see `park`
};

struct RouteError {
  RouteErrorCode code = RouteErrorCode::kNone;
  uint32_t vcpu = 0;
  int cpu = -1;
  IrteRef irte;
  hw::amd::CommandError command = hw::amd::CommandError::kNone;
  wakeup::ParkError park = wakeup::ParkError::kNone;
  // Rollback could not restore GAPPIDis on some IRTE (a second command failure). The entry is
  // otherwise restored; the only effect is a possible spurious GAPPI, which software tolerates.
  bool gappi_dis_left_clear = false;

  bool ok() const { return code == RouteErrorCode::kNone; }

  static RouteError Of(RouteErrorCode code, uint32_t vcpu, int cpu = -1) {
    RouteError e;
    e.code = code;
    e.vcpu = vcpu;
    e.cpu = cpu;
    return e;
  }

  absl::Status ToStatus() const {
    switch (code) {
      case RouteErrorCode::kNone:
        return absl::OkStatus();
      case RouteErrorCode::kUnknownVcpu:
        return absl::NotFoundError(absl::StrFormat("vCPU %u: not added to the router", vcpu));
      case RouteErrorCode::kUnknownCpu:
        return absl::InvalidArgumentError(absl::StrFormat("vCPU %u: unknown CPU %d", vcpu, cpu));
      case RouteErrorCode::kHardware:
        return absl::UnavailableError(absl::StrFormat(
            "vCPU %u: updating IRTE %#x:%u failed: %s; rolled back%s", vcpu, irte.device_id,
            irte.index, hw::amd::CommandErrorName(command),
            gappi_dis_left_clear ? " (GAPPIDis left clear: spurious GAPPIs possible)" : ""));
      case RouteErrorCode::kNotParked:
        return wakeup::ParkErrorToStatus(park, vcpu, cpu);
    }
    return absl::InternalError("unknown RouteErrorCode");
  }
};

// The hot paths' argument check: a vCPU the router knows, on a CPU the platform has.
inline RouteError CheckVcpuOnCpu(bool vcpu_known, uint32_t vcpu, int cpu, int num_cpus) {
  if (!vcpu_known) return RouteError::Of(RouteErrorCode::kUnknownVcpu, vcpu);
  if (cpu < 0 || cpu >= num_cpus) return RouteError::Of(RouteErrorCode::kUnknownCpu, vcpu, cpu);
  return {};
}

// What Block did. kSleep: safe to sleep, a device interrupt will wake the vCPU.
// kPendingDontSleep: an interrupt is already pending; do not sleep (call Load). kNotParked / an
// error: nothing changed (rolled back); do not sleep.
struct BlockOutcome {
  wakeup::BlockDecision decision = wakeup::BlockDecision::kNotParked;
  RouteError error;
};

// The cold paths' errors, worded alike for every IOMMU: each names the vCPU and the IRTE.
inline absl::Status CheckGuestVector(uint32_t vcpu, IrteRef irte, uint8_t guest_vector) {
  if (guest_vector >= 16) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("vCPU %u: guest vector %#x is reserved (< 16) for IRTE %#x:%u", vcpu,
                      guest_vector, irte.device_id, irte.index));
}

inline absl::Status CheckHostVector(IrteRef irte, uint8_t host_vector) {
  if (host_vector >= 16) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "IRTE %#x:%u: host vector %#x is reserved (< 16)", irte.device_id, irte.index, host_vector));
}

// In a failed write's message when the flush after its rollback failed too, so that the IOMMU
// may still use the new entry; a caller can look for it in the message.
inline constexpr char kRollbackUnflushed[] = "the flush after the rollback failed too";

// The note a failed write's message ends with: empty, or (when the rollback's flush failed)
// `still_used`, what the IOMMU may go on using.
inline std::string RollbackNote(bool rollback_unflushed, const char* still_used) {
  if (!rollback_unflushed) return "";
  return absl::StrFormat(" in memory, but %s: %s until a later invalidation succeeds",
                         kRollbackUnflushed, still_used);
}

// `why` names the hardware failure; `note` (may be empty) says what the rollback could not undo.
inline absl::Status BindFailed(uint32_t vcpu, IrteRef irte, uint8_t guest_vector, const char* why,
                               const std::string& note) {
  return absl::UnavailableError(absl::StrFormat(
      "vCPU %u: binding IRTE %#x:%u (guest vector %#x) failed: %s; the IRTE and the vCPU "
      "lists are unchanged%s",
      vcpu, irte.device_id, irte.index, guest_vector, why, note));
}

inline absl::Status RemapFailed(bool was_bound, uint32_t owner, IrteRef irte, const char* why,
                                const std::string& note) {
  return absl::UnavailableError(
      absl::StrFormat("%sIRTE %#x:%u: switching to remapped mode failed: %s; unchanged%s",
                      was_bound ? absl::StrFormat("vCPU %u: ", owner) : std::string(),
                      irte.device_id, irte.index, why, note));
}

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_ROUTE_ERROR_H_
