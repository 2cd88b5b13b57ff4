// SPDX-License-Identifier: MIT
// irqvirt's one error convention (README "Errors"): which absl::StatusCode each kind of mistake
// gets, and the status a hot path returns.
//
// Cold paths (configuration, binding, MMIO set-up, save/restore) return absl::Status or
// absl::StatusOr with a message that names the object. Hot paths (vCPU load/put/block, LR
// flush/fold, injection, DIR traps, handlers) must not allocate, so they return a HotStatus: a
// code from the same table plus what the message needs (a static format and two numbers), turned
// into the named absl::Status by ToStatus() on the caller's cold path. A guest's own input is
// never an error: it gets its architectural behaviour.
#ifndef IRQVIRT_IRQVIRT_STATUS_H_
#define IRQVIRT_IRQVIRT_STATUS_H_

#if __cplusplus < 202002L
#error "irqvirt needs C++20: compile with -std=c++20 (Bazel: --cxxopt=-std=c++20)"
#endif

#include <cstdint>
#include <cstdio>

#include "absl/status/status.h"

namespace irqvirt {

// The table. One code per kind of mistake, across the whole library.
namespace code {
// An index outside a range fixed at creation: a vCPU id >= num_vcpus, an INTID beyond the VM's
// SPIs, a pin >= num_pins, a CPU the platform does not have, an IRTE index beyond the table.
inline constexpr absl::StatusCode kIndexOutOfRange = absl::StatusCode::kOutOfRange;
// A value that is wrong whatever the state: a reserved vector, a misaligned address, a
// configuration field out of its architectural range, a corrupt or truncated blob.
inline constexpr absl::StatusCode kMalformed = absl::StatusCode::kInvalidArgument;
// An object in range that is not there: a vCPU never added (or removed), an IRTE not bound, a
// notifier not registered, a device not attached.
inline constexpr absl::StatusCode kUnknownObject = absl::StatusCode::kNotFound;
// Adding what is already there: a vCPU added twice, a second notifier.
inline constexpr absl::StatusCode kAlreadyThere = absl::StatusCode::kAlreadyExists;
// A call in the wrong state or order: Flush twice without Fold, Put without Load, a CPU that is
// offline, removing a vCPU that still owns IRTEs, a well-formed blob for another shape.
inline constexpr absl::StatusCode kWrongStateOrOrder = absl::StatusCode::kFailedPrecondition;
// A table or pool sized at creation is full.
inline constexpr absl::StatusCode kFull = absl::StatusCode::kResourceExhausted;
// The hardware refused or faulted a command (IOMMU command error, VT-d IQE); rolled back.
inline constexpr absl::StatusCode kHardwareFailed = absl::StatusCode::kUnavailable;
// The hardware did not complete a command in time (completion wait, VT-d ITE); rolled back.
inline constexpr absl::StatusCode kHardwareTimeout = absl::StatusCode::kDeadlineExceeded;
}  // namespace code

// A hot path's result: trivially copyable, built without allocating. `format` is a string
// literal with at most two integer conversions (%lld, %llx, ...), given `a` and `b`.
class [[nodiscard]] HotStatus {
 public:
  constexpr HotStatus() = default;  // OK
  static constexpr HotStatus Error(absl::StatusCode code, const char* format, int64_t a = 0,
                                   int64_t b = 0) {
    HotStatus s;
    s.code_ = code;
    s.format_ = format;
    s.a_ = a;
    s.b_ = b;
    return s;
  }

  constexpr bool ok() const { return code_ == absl::StatusCode::kOk; }
  constexpr absl::StatusCode code() const { return code_; }

  // The named status (allocates; call it on a cold path).
  absl::Status ToStatus() const {
    if (ok()) return absl::OkStatus();
    char message[256];
    std::snprintf(message, sizeof message, format_, static_cast<long long>(a_),
                  static_cast<long long>(b_));
    return absl::Status(code_, message);
  }

 private:
  absl::StatusCode code_ = absl::StatusCode::kOk;
  const char* format_ = "";
  int64_t a_ = 0;
  int64_t b_ = 0;
};

}  // namespace irqvirt

#endif  // IRQVIRT_IRQVIRT_STATUS_H_
