// SPDX-License-Identifier: MIT
// Interrupts a fake IOMMU raises while it holds its own lock (a device firing while the driver
// waits for a command or an invalidation), kept to be sent once the lock is released: the CPUs
// they target see them after the fact, and a handler that calls back into the fake cannot
// deadlock. A fixed array, so that holding them allocates nothing.
#ifndef IRQVIRT_HW_FAKE_DEFERRED_INTERRUPTS_H_
#define IRQVIRT_HW_FAKE_DEFERRED_INTERRUPTS_H_

#include <array>
#include <cstddef>

namespace hw::fake {

template <typename Outgoing, size_t kCapacity = 64>
class DeferredInterrupts {
 public:
  // False when full: the caller decides what a lost interrupt means for its test.
  bool Add(const Outgoing& out) {
    if (count_ == kCapacity) return false;
    items_[count_++] = out;
    return true;
  }
  // Everything held so far, leaving this empty (under the lock; send the copy after it).
  DeferredInterrupts Take() {
    DeferredInterrupts taken = *this;
    count_ = 0;
    return taken;
  }
  template <typename Send>
  void SendAll(Send&& send) const {
    for (size_t i = 0; i < count_; ++i) send(items_[i]);
  }

 private:
  std::array<Outgoing, kCapacity> items_{};
  size_t count_ = 0;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_DEFERRED_INTERRUPTS_H_
