// SPDX-License-Identifier: MIT
// The bare-metal build profile's absl::Status: the subset of Abseil's API that irqvirt's vGIC
// core and register types use (codes, OkStatus, the *Error constructors, ok/code/message), with
// the message kept in a fixed buffer instead of a heap string and no payloads (Abseil keeps
// payloads in an absl::Cord, whose code needs absl::Mutex, time zones and the rest of a hosted
// OS; see tools/qemu_gicv3/README.md). Only the QEMU image includes this directory: the hosted
// build uses Debian's Abseil, so the core's source and its hosted behaviour are unchanged.
#ifndef IRQVIRT_FREESTANDING_ABSL_STATUS_STATUS_H_
#define IRQVIRT_FREESTANDING_ABSL_STATUS_STATUS_H_

#include <cstddef>
#include <string_view>

namespace absl {

// The canonical codes, numbered as Abseil and gRPC number them.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

class Status {
 public:
  // Long enough for every message the core builds; a longer one is cut, never overrun.
  static constexpr size_t kMaxMessage = 191;

  Status() = default;
  Status(StatusCode code, std::string_view message) : code_(code) {
    if (code == StatusCode::kOk) return;  // as Abseil: an OK status carries no message
    length_ = message.size() < kMaxMessage ? message.size() : kMaxMessage;
    for (size_t i = 0; i < length_; ++i) message_[i] = message[i];
    message_[length_] = '\0';
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  std::string_view message() const { return {message_, length_}; }
  // NUL-terminated, for the image's console.
  const char* c_message() const { return message_; }
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message() == b.message();
  }
  friend bool operator!=(const Status& a, const Status& b) { return !(a == b); }

 private:
  StatusCode code_ = StatusCode::kOk;
  size_t length_ = 0;
  char message_[kMaxMessage + 1] = {};
};

inline Status OkStatus() { return Status(); }
inline Status CancelledError(std::string_view m) { return {StatusCode::kCancelled, m}; }
inline Status UnknownError(std::string_view m) { return {StatusCode::kUnknown, m}; }
inline Status InvalidArgumentError(std::string_view m) {
  return {StatusCode::kInvalidArgument, m};
}
inline Status DeadlineExceededError(std::string_view m) {
  return {StatusCode::kDeadlineExceeded, m};
}
inline Status NotFoundError(std::string_view m) { return {StatusCode::kNotFound, m}; }
inline Status AlreadyExistsError(std::string_view m) { return {StatusCode::kAlreadyExists, m}; }
inline Status PermissionDeniedError(std::string_view m) {
  return {StatusCode::kPermissionDenied, m};
}
inline Status ResourceExhaustedError(std::string_view m) {
  return {StatusCode::kResourceExhausted, m};
}
inline Status FailedPreconditionError(std::string_view m) {
  return {StatusCode::kFailedPrecondition, m};
}
inline Status AbortedError(std::string_view m) { return {StatusCode::kAborted, m}; }
inline Status OutOfRangeError(std::string_view m) { return {StatusCode::kOutOfRange, m}; }
inline Status UnimplementedError(std::string_view m) { return {StatusCode::kUnimplemented, m}; }
inline Status InternalError(std::string_view m) { return {StatusCode::kInternal, m}; }
inline Status UnavailableError(std::string_view m) { return {StatusCode::kUnavailable, m}; }
inline Status DataLossError(std::string_view m) { return {StatusCode::kDataLoss, m}; }
inline Status UnauthenticatedError(std::string_view m) {
  return {StatusCode::kUnauthenticated, m};
}

}  // namespace absl

#endif  // IRQVIRT_FREESTANDING_ABSL_STATUS_STATUS_H_
