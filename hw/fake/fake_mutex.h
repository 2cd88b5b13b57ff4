// SPDX-License-Identifier: MIT
// The fakes' mutex: std::mutex (ThreadSanitizer sees pthread locks, but not Debian's
// uninstrumented Abseil) declared as a capability, so that clang's thread-safety analysis
// checks the ABSL_GUARDED_BY fields behind it (it ignores std::mutex itself).
#ifndef IRQVIRT_HW_FAKE_FAKE_MUTEX_H_
#define IRQVIRT_HW_FAKE_FAKE_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace hw::fake {

class ABSL_LOCKABLE FakeMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a FakeMutex for a scope.
class ABSL_SCOPED_LOCKABLE FakeMutexLock {
 public:
  explicit FakeMutexLock(FakeMutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.Lock(); }
  ~FakeMutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  FakeMutexLock(const FakeMutexLock&) = delete;
  FakeMutexLock& operator=(const FakeMutexLock&) = delete;

 private:
  FakeMutex& mu_;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_MUTEX_H_
