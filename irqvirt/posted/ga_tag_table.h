// SPDX-License-Identifier: MIT
// GA tag -> vCPU lookup for the GA log handler. The GA log names a vCPU only by the 32-bit tag
// its IRTEs carry; this table, sized at creation, answers "which vCPU is that now?" and is the
// teardown barrier: once Erase(tag) returns, no handler can wake that vCPU any more, so entries
// still sitting in the log for a destroyed VM are simply not found.
//
// Open addressing with linear probing and backward-shift deletion (no tombstones, so a table
// that sees years of VM churn never degrades). Lookups allocate nothing.
//
// Lock: one P::SpinLock. Taken by the GA-log interrupt handler and by task context (Insert /
// Erase / ForEach), always with LockIrqSave, so it is never held with interrupts on.
#ifndef IRQVIRT_IRQVIRT_POSTED_GA_TAG_TABLE_H_
#define IRQVIRT_IRQVIRT_POSTED_GA_TAG_TABLE_H_

#include <bit>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "hw/platform.h"

namespace irqvirt::posted {

template <hw::Platform P>
class GaTagTable {
 public:
  GaTagTable(P& platform, uint32_t max_entries)
      : platform_(platform),
        capacity_(std::bit_ceil(2 * (max_entries == 0 ? 1 : max_entries))),
        shift_(static_cast<uint32_t>(std::countr_zero(capacity_))),
        slots_(new Slot[capacity_]()) {}

  absl::Status Insert(uint32_t tag, uint32_t vcpu) {
    const hw::IrqFlags flags = platform_.LockIrqSave(lock_);
    absl::Status result = absl::OkStatus();
    uint32_t i = Home(tag);
    while (slots_[i].used && slots_[i].tag != tag) i = (i + 1) & (capacity_ - 1);
    if (slots_[i].used) {
      result = absl::AlreadyExistsError(absl::StrFormat(
          "GA tag %#x already names vCPU %u", tag, slots_[i].vcpu));
    } else if (2 * (size_ + 1) > capacity_) {
      result = absl::ResourceExhaustedError(absl::StrFormat("GA tag table full (%u vCPUs)", size_));
    } else {
      slots_[i] = Slot{tag, vcpu, true};
      ++size_;
    }
    platform_.UnlockIrqRestore(lock_, flags);
    return result;
  }

  bool Erase(uint32_t tag) {
    const hw::IrqFlags flags = platform_.LockIrqSave(lock_);
    uint32_t i = Home(tag);
    while (slots_[i].used && slots_[i].tag != tag) i = (i + 1) & (capacity_ - 1);
    const bool found = slots_[i].used;
    if (found) {
      // Backward shift: pull later members of the probe run into the hole.
      uint32_t hole = i;
      for (uint32_t j = (i + 1) & (capacity_ - 1); slots_[j].used; j = (j + 1) & (capacity_ - 1)) {
        const uint32_t home = Home(slots_[j].tag);
        const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        slots_[hole] = slots_[j];
        hole = j;
      }
      slots_[hole] = Slot{};
      --size_;
    }
    platform_.UnlockIrqRestore(lock_, flags);
    return found;
  }

  // Calls fn(vcpu) under the lock if the tag is known (fn must be IRQ-safe and non-blocking, like
  // Platform::WakeVcpu). Returns whether it was.
  template <typename Fn>
  bool WithVcpu(uint32_t tag, Fn&& fn) {
    const hw::IrqFlags flags = platform_.LockIrqSave(lock_);
    uint32_t i = Home(tag);
    while (slots_[i].used && slots_[i].tag != tag) i = (i + 1) & (capacity_ - 1);
    const bool found = slots_[i].used;
    if (found) fn(slots_[i].vcpu);
    platform_.UnlockIrqRestore(lock_, flags);
    return found;
  }

  // fn(vcpu) for every entry, under the lock (the overflow rescan).
  template <typename Fn>
  void ForEach(Fn&& fn) {
    const hw::IrqFlags flags = platform_.LockIrqSave(lock_);
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (slots_[i].used) fn(slots_[i].vcpu);
    }
    platform_.UnlockIrqRestore(lock_, flags);
  }

 private:
  struct Slot {
    uint32_t tag = 0;
    uint32_t vcpu = 0;
    bool used = false;
  };

  // Fibonacci hashing: the product's high bits depend on every tag bit (the VM id sits high).
  uint32_t Home(uint32_t tag) const {
    return static_cast<uint32_t>((uint64_t{tag * 0x9e3779b1u} << shift_) >> 32) & (capacity_ - 1);
  }

  P& platform_;
  const uint32_t capacity_;  // power of two, at least twice the entries
  const uint32_t shift_;     // log2(capacity_)
  typename P::SpinLock lock_;
  std::unique_ptr<Slot[]> slots_ ABSL_GUARDED_BY(lock_);
  uint32_t size_ ABSL_GUARDED_BY(lock_) = 0;
};

}  // namespace irqvirt::posted

#endif  // IRQVIRT_IRQVIRT_POSTED_GA_TAG_TABLE_H_
