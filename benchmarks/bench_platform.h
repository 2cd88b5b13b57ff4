// SPDX-License-Identifier: MIT
// A minimal hw::Platform for benchmarks: a real test-and-set spinlock (the same one the KVM-style
// baseline uses), no interrupt bookkeeping, and a wake callback that only counts.
#ifndef IRQVIRT_BENCHMARKS_BENCH_PLATFORM_H_
#define IRQVIRT_BENCHMARKS_BENCH_PLATFORM_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "hw/platform.h"

namespace irqvirt::bench {

class BenchPlatform {
 public:
  class ABSL_LOCKABLE SpinLock {
   public:
    void Acquire() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
      while (locked_.exchange(true, std::memory_order_acquire)) {
        while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
      }
    }
    void Release() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

   private:
    std::atomic<bool> locked_{false};
  };

  explicit BenchPlatform(int num_cpus) : num_cpus_(num_cpus) {}

  int num_cpus() const { return num_cpus_; }
  int current_cpu() const { return 0; }
  uint32_t apic_id(int cpu) const { return static_cast<uint32_t>(cpu); }
  hw::IrqFlags LockIrqSave(SpinLock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) {
    l.Acquire();
    return 0;
  }
  void UnlockIrqRestore(SpinLock& l, hw::IrqFlags) ABSL_UNLOCK_FUNCTION(l) { l.Release(); }
  void LockIrqsOff(SpinLock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) { l.Acquire(); }
  void UnlockIrqsOff(SpinLock& l) ABSL_UNLOCK_FUNCTION(l) { l.Release(); }
  void WakeVcpu(uint32_t) { ++wakes; }
  void SendSelfIpi(uint8_t) {}
  absl::Status RegisterVectorHandler(uint8_t, hw::VectorHandler, void*) { return absl::OkStatus(); }
  void UnregisterVectorHandler(uint8_t) {}
  // Where fake devices send interrupts (hw::fake::PlatformInterruptSink); benchmarks drop them.
  void RaiseInterrupt(int, uint8_t) {}

  uint64_t wakes = 0;

 private:
  int num_cpus_;
};

static_assert(hw::Platform<BenchPlatform>);

}  // namespace irqvirt::bench

#endif  // IRQVIRT_BENCHMARKS_BENCH_PLATFORM_H_
