// SPDX-License-Identifier: MIT
// The bare-metal build profile's absl::StatusOr<T> (see status.h here): a value or a non-OK
// Status. Using the value of an error is a bug in the caller; Abseil crashes there, and so
// does this (the image's runtime stops with a failure status).
#ifndef IRQVIRT_FREESTANDING_ABSL_STATUS_STATUSOR_H_
#define IRQVIRT_FREESTANDING_ABSL_STATUS_STATUSOR_H_

#include <new>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"

namespace absl {
namespace freestanding_internal {
// Defined by the image's runtime: reports the misuse and stops.
[[noreturn]] void StatusOrValueOfError(const Status& status);
}  // namespace freestanding_internal

template <typename T>
class StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit, as in Abseil
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "StatusOr made from an OK status");
  }
  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, StatusOr>>>
  StatusOr(U&& value) : has_value_(true) {  // NOLINT: implicit, as in Abseil
    new (&storage_) T(std::forward<U>(value));
  }
  StatusOr(StatusOr&& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(std::move(other.ref()));
  }
  StatusOr(const StatusOr& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(other.ref());
  }
  StatusOr& operator=(StatusOr&& other) {
    if (this != &other) {
      Reset();
      status_ = other.status_;
      has_value_ = other.has_value_;
      if (has_value_) new (&storage_) T(std::move(other.ref()));
    }
    return *this;
  }
  StatusOr& operator=(const StatusOr& other) {
    if (this != &other) {
      Reset();
      status_ = other.status_;
      has_value_ = other.has_value_;
      if (has_value_) new (&storage_) T(other.ref());
    }
    return *this;
  }
  ~StatusOr() { Reset(); }

  bool ok() const { return has_value_; }
  const Status& status() const { return status_; }

  T& value() & { return Checked(); }
  const T& value() const& { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return Checked(); }
  T&& operator*() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &Checked(); }
  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value_ ? ref() : static_cast<T>(std::forward<U>(fallback));
  }
  void IgnoreError() const {}

 private:
  T& ref() { return *std::launder(reinterpret_cast<T*>(&storage_)); }
  const T& ref() const { return *std::launder(reinterpret_cast<const T*>(&storage_)); }
  T& Checked() {
    if (!has_value_) freestanding_internal::StatusOrValueOfError(status_);
    return ref();
  }
  const T& Checked() const {
    if (!has_value_) freestanding_internal::StatusOrValueOfError(status_);
    return ref();
  }
  void Reset() {
    if (has_value_) ref().~T();
    has_value_ = false;
  }

  Status status_;
  bool has_value_ = false;
  alignas(T) unsigned char storage_[sizeof(T)];
};

}  // namespace absl

#endif  // IRQVIRT_FREESTANDING_ABSL_STATUS_STATUSOR_H_
