// SPDX-License-Identifier: MIT
#include "hw/fake/threaded_platform.h"

#include <bit>
#include <thread>

namespace hw::fake {
namespace {

// The pCPU identity and interrupt state of the calling thread.
thread_local int tls_cpu = -1;
// The platform the thread was bound to (its serial: a later platform may reuse an address); a
// binding left by another platform is none.
thread_local uint64_t tls_platform = 0;
std::atomic<uint64_t> platforms_created{0};
thread_local bool tls_irqs_disabled = false;

}  // namespace

ThreadedPlatform::ThreadedPlatform(int num_cpus, WakeFn wake, void* wake_context)
    : num_cpus_(num_cpus),
      cpus_(std::make_unique<Cpu[]>(num_cpus)),
      wake_(wake),
      wake_context_(wake_context),
      serial_(platforms_created.fetch_add(1) + 1) {}

int ThreadedPlatform::current_cpu() const { return tls_platform == serial_ ? tls_cpu : -1; }

void ThreadedPlatform::BindCurrentThread(int cpu) {
  tls_cpu = cpu;
  tls_platform = serial_;
  tls_irqs_disabled = false;
}

void ThreadedPlatform::Acquire(SpinLock& lock) {
  if (!lock.locked_.exchange(true, std::memory_order_acquire)) return;
  lock_waiters_.fetch_add(1, std::memory_order_seq_cst);
  do {
    while (lock.locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
  } while (lock.locked_.exchange(true, std::memory_order_acquire));
  lock_waiters_.fetch_sub(1, std::memory_order_seq_cst);
}

void ThreadedPlatform::Release(SpinLock& lock) {
  lock.locked_.store(false, std::memory_order_release);
}

IrqFlags ThreadedPlatform::LockIrqSave(SpinLock& lock) {
  const IrqFlags flags = tls_irqs_disabled ? 1 : 0;
  tls_irqs_disabled = true;
  Acquire(lock);
  return flags;
}

void ThreadedPlatform::UnlockIrqRestore(SpinLock& lock, IrqFlags flags) {
  Release(lock);
  tls_irqs_disabled = flags != 0;
  if (flags == 0 && current_cpu() >= 0) PollInterrupts();
}

void ThreadedPlatform::LockIrqsOff(SpinLock& lock) {
  if (!tls_irqs_disabled) lock_violations_.fetch_add(1);
  Acquire(lock);
}

void ThreadedPlatform::UnlockIrqsOff(SpinLock& lock) { Release(lock); }

void ThreadedPlatform::RaiseInterrupt(int cpu, uint8_t vector) {
  if (cpu < 0 || cpu >= num_cpus_ || !cpus_[cpu].online.load(std::memory_order_seq_cst)) {
    lost_interrupts_.fetch_add(1);
    return;
  }
  cpus_[cpu].mailbox[vector >> 6].fetch_or(uint64_t{1} << (vector & 63), std::memory_order_seq_cst);
}

void ThreadedPlatform::PollInterrupts() {
  const int cpu = current_cpu();
  if (tls_irqs_disabled || cpu < 0) return;
  Cpu& c = cpus_[cpu];
  for (int w = 3; w >= 0; --w) {
    uint64_t bits = c.mailbox[w].exchange(0, std::memory_order_seq_cst);
    while (bits != 0) {
      const int bit = 63 - std::countl_zero(bits);
      bits &= ~(uint64_t{1} << bit);
      tls_irqs_disabled = true;
      if (!vectors_.Dispatch(cpu, static_cast<uint8_t>(w * 64 + bit))) {
        spurious_interrupts_.fetch_add(1);
      }
      tls_irqs_disabled = false;
    }
  }
}

void ThreadedPlatform::SetOnline(int cpu, bool online) {
  cpus_[cpu].online.store(online, std::memory_order_seq_cst);
}

}  // namespace hw::fake
