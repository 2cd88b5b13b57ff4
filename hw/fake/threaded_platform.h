// SPDX-License-Identifier: MIT
// A fake platform whose pCPUs are real threads, for stress tests (run them under
// --config=tsan). A thread becomes pCPU c with BindCurrentThread(c). Interrupts sent to a CPU
// wait in its mailbox until that CPU's thread has interrupts enabled and calls PollInterrupts()
// (or re-enables interrupts through UnlockIrqRestore). Spin locks are real test-and-set locks.
// Counters report what would hang or corrupt real hardware: a handler-side lock taken with
// interrupts on, and interrupts sent to an offline CPU.
#ifndef IRQVIRT_HW_FAKE_THREADED_PLATFORM_H_
#define IRQVIRT_HW_FAKE_THREADED_PLATFORM_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "hw/fake/vector_table.h"
#include "hw/platform.h"

namespace hw::fake {

class ThreadedPlatform {
 public:
  class ABSL_LOCKABLE SpinLock {
   private:
    friend class ThreadedPlatform;
    std::atomic<bool> locked_{false};
  };

  using WakeFn = void (*)(void* context, uint32_t vcpu);

  ThreadedPlatform(int num_cpus, WakeFn wake, void* wake_context);

  // --- hw::Platform ---
  int num_cpus() const { return num_cpus_; }
  int current_cpu() const;
  uint32_t apic_id(int cpu) const {
    return cpu >= 0 && cpu < num_cpus_ ? 2 * static_cast<uint32_t>(cpu) : 0xffffffffu;
  }
  IrqFlags LockIrqSave(SpinLock& lock)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;  // the primitive itself
  void UnlockIrqRestore(SpinLock& lock, IrqFlags flags)
      ABSL_UNLOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void LockIrqsOff(SpinLock& lock)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockIrqsOff(SpinLock& lock) ABSL_UNLOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void WakeVcpu(uint32_t vcpu) { wake_(wake_context_, vcpu); }
  void SendSelfIpi(uint8_t vector) { RaiseInterrupt(current_cpu(), vector); }
  absl::Status RegisterVectorHandler(uint8_t vector, VectorHandler handler, void* context) {
    return vectors_.Register(vector, handler, context);
  }
  void UnregisterVectorHandler(uint8_t vector) { vectors_.Unregister(vector); }

  // --- thread controls ---
  // The calling thread becomes pCPU `cpu` of this platform (a binding to another platform ends).
  void BindCurrentThread(int cpu);
  // Handles every interrupt waiting for this thread's CPU (interrupts must be enabled).
  void PollInterrupts();
  void RaiseInterrupt(int cpu, uint8_t vector);
  void SetOnline(int cpu, bool online);
  bool online(int cpu) const { return cpus_[cpu].online.load(std::memory_order_seq_cst); }

  uint64_t lock_violations() const { return lock_violations_.load(); }
  // Threads spinning for a lock another thread holds, now (tests: "they are queued behind it").
  int lock_waiters() const { return lock_waiters_.load(); }
  uint64_t lost_interrupts() const { return lost_interrupts_.load(); }
  uint64_t spurious_interrupts() const { return spurious_interrupts_.load(); }

 private:
  struct Cpu {
    std::atomic<bool> online{true};
    std::array<std::atomic<uint64_t>, 4> mailbox{};
  };

  void Acquire(SpinLock& lock);
  void Release(SpinLock& lock);

  const int num_cpus_;
  std::unique_ptr<Cpu[]> cpus_;
  WakeFn wake_;
  void* wake_context_;
  VectorTable vectors_;
  std::atomic<uint64_t> lock_violations_{0};
  std::atomic<int> lock_waiters_{0};
  const uint64_t serial_;  // which platform a thread's binding belongs to
  std::atomic<uint64_t> lost_interrupts_{0};
  std::atomic<uint64_t> spurious_interrupts_{0};
};

static_assert(Platform<ThreadedPlatform>);

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_THREADED_PLATFORM_H_
