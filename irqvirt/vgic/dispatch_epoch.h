// SPDX-License-Identifier: MIT
// The window in which a dispatcher holds collected deactivation notifiers: odd while it has
// read a notifier under an interrupt lock and not yet finished calling it. Removing a notifier
// clears it under the interrupt lock and then waits for an odd window to close, so that once
// the removal returns the old notifier is neither running nor about to run (its context may be
// freed). One writer (the dispatcher); any number of waiters.
#ifndef IRQVIRT_VGIC_DISPATCH_EPOCH_H_
#define IRQVIRT_VGIC_DISPATCH_EPOCH_H_

#include <atomic>
#include <cstdint>
#include <thread>

namespace irqvirt::vgic {

class DispatchEpoch {
 public:
  // Before reading any notifier. Relaxed is enough: the notifier is read under an interrupt
  // lock whose release orders this store before a remover's later acquire of the same lock.
  void Open() { epoch_.store(epoch_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  // After the last collected notifier has returned.
  void Close() { epoch_.store(epoch_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  // Returns once a window open at the time of the call has closed. Never call from a notifier.
  void WaitForOpenWindow() const {
    const uint32_t e = epoch_.load(std::memory_order_acquire);
    if ((e & 1) == 0) return;
    while (epoch_.load(std::memory_order_acquire) == e) std::this_thread::yield();
  }

 private:
  std::atomic<uint32_t> epoch_{0};
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_DISPATCH_EPOCH_H_
