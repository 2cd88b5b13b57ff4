// SPDX-License-Identifier: MIT
// The vGIC core's platform on the image's one CPU at EL2: an IRQ-safe spinlock is an atomic flag
// taken with IRQs masked in PSTATE (DAIF.I), as a hypervisor's raw spinlock is. On one CPU a lock
// found held can only be a deadlock (the holder cannot run until we stop spinning): it stops the
// image rather than spinning forever.
#ifndef IRQVIRT_TOOLS_QEMU_GICV3_SINGLE_CPU_PLATFORM_H_
#define IRQVIRT_TOOLS_QEMU_GICV3_SINGLE_CPU_PLATFORM_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "hw/platform.h"
#include "tools/qemu_gicv3/runtime.h"

namespace qemu_image {

class SingleCpuPlatform {
 public:
  class ABSL_LOCKABLE SpinLock {
   private:
    friend class SingleCpuPlatform;
    std::atomic<bool> held_{false};
  };

  hw::IrqFlags LockIrqSave(SpinLock& lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    uint64_t daif = 0;
    asm volatile("mrs %0, daif\n\tmsr daifset, #2" : "=r"(daif) : : "memory");
    Acquire(lock);
    return daif;
  }
  void UnlockIrqRestore(SpinLock& lock, hw::IrqFlags flags) ABSL_UNLOCK_FUNCTION(lock)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock.held_.store(false, std::memory_order_release);
    asm volatile("msr daif, %0" : : "r"(flags) : "memory");
  }
  void LockIrqsOff(SpinLock& lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Acquire(lock);
  }
  void UnlockIrqsOff(SpinLock& lock) ABSL_UNLOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock.held_.store(false, std::memory_order_release);
  }

 private:
  static void Acquire(SpinLock& lock) {
    if (lock.held_.exchange(true, std::memory_order_acquire)) {
      Fatal("spinlock taken twice on the one CPU (deadlock)");
    }
  }
};

static_assert(hw::IrqSafeLocks<SingleCpuPlatform>);

}  // namespace qemu_image

#endif  // IRQVIRT_TOOLS_QEMU_GICV3_SINGLE_CPU_PLATFORM_H_
