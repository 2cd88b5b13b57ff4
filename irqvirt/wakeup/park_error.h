// SPDX-License-Identifier: MIT
// Why a park request was refused. Hot paths return this enum (no allocation); cold callers turn
// it into an absl::Status that names the vCPU and the CPU.
#ifndef IRQVIRT_IRQVIRT_WAKEUP_PARK_ERROR_H_
#define IRQVIRT_IRQVIRT_WAKEUP_PARK_ERROR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace irqvirt::wakeup {

enum class ParkError : uint8_t {
  kNone,
  kUnknownVcpu,    // not registered with AddVcpu, or id out of range
  kUnknownCpu,     // negative or >= the configured number of CPUs
  kCpuOffline,     // the CPU was taken offline; park on an online CPU
  kAlreadyParked,  // a vCPU is on at most one queue: unpark first
};

inline absl::Status ParkErrorToStatus(ParkError e, uint32_t vcpu, int cpu) {
  switch (e) {
    case ParkError::kNone:
      return absl::OkStatus();
    case ParkError::kUnknownVcpu:
      return absl::NotFoundError(absl::StrFormat("vCPU %u: not registered with the wakeup queues", vcpu));
    case ParkError::kUnknownCpu:
      return absl::InvalidArgumentError(absl::StrFormat("vCPU %u: unknown CPU %d", vcpu, cpu));
    case ParkError::kCpuOffline:
      return absl::FailedPreconditionError(
          absl::StrFormat("vCPU %u: CPU %d is offline", vcpu, cpu));
    case ParkError::kAlreadyParked:
      return absl::FailedPreconditionError(
          absl::StrFormat("vCPU %u: already parked; unpark before parking on CPU %d", vcpu, cpu));
  }
  return absl::InternalError("unknown ParkError");
}

}  // namespace irqvirt::wakeup

#endif  // IRQVIRT_IRQVIRT_WAKEUP_PARK_ERROR_H_
