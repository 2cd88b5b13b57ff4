// SPDX-License-Identifier: MIT
// Deactivation notifications collected under vGIC locks and delivered after every lock is
// released. Fixed capacity, sized for the most one fold can produce: one per list register,
// one per EOIcount step (EOIcount is 5 bits) and one per cross-vCPU DIR request.
#ifndef IRQVIRT_VGIC_NOTIFICATION_BATCH_H_
#define IRQVIRT_VGIC_NOTIFICATION_BATCH_H_

#include <array>
#include <cstdint>

#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::vgic {

class NotificationBatch {
 public:
  static constexpr int kCapacity = 16 + 31 + 16;

  void Add(DeactivationNotifier fn, void* context, uint32_t intid) {
    if (fn == nullptr) return;
    entries_[size_++] = {fn, context, intid};  // bounded by construction (see kCapacity)
  }
  // Calls every collected notifier in order and empties the batch. No vGIC lock may be held.
  void Dispatch() {
    for (int i = 0; i < size_; ++i) entries_[i].fn(entries_[i].context, entries_[i].intid);
    size_ = 0;
  }
  int size() const { return size_; }

 private:
  struct Entry {
    DeactivationNotifier fn;
    void* context;
    uint32_t intid;
  };
  std::array<Entry, kCapacity> entries_{};
  int size_ = 0;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_NOTIFICATION_BATCH_H_
