// SPDX-License-Identifier: MIT
// The `limit` entries with the lowest keys seen so far, in ascending key order, in fixed
// storage: how the flush picks the interrupts for the LRs and the fold picks the ones EOIcount
// deactivated, without sorting the AP list.
#ifndef IRQVIRT_VGIC_BEST_BY_KEY_H_
#define IRQVIRT_VGIC_BEST_BY_KEY_H_

#include <cstdint>

namespace irqvirt::vgic {

template <typename T, int kCapacity>
class BestByKey {
 public:
  // `limit` is at most kCapacity.
  explicit BestByKey(int limit) : limit_(limit) {}

  // Keeps `item` if its key is among the `limit` lowest so far (ties: the earlier one first).
  void Offer(uint64_t key, T* item) {
    if (size_ == limit_ && (limit_ == 0 || key >= entries_[size_ - 1].key)) return;
    int pos = size_ < limit_ ? size_++ : size_ - 1;
    while (pos > 0 && entries_[pos - 1].key > key) {
      entries_[pos] = entries_[pos - 1];
      --pos;
    }
    entries_[pos] = {key, item};
  }

  int size() const { return size_; }
  T& operator[](int i) const { return *entries_[i].item; }

 private:
  struct Entry {
    uint64_t key;
    T* item;
  };
  Entry entries_[kCapacity];
  int limit_;
  int size_ = 0;
};

}  // namespace irqvirt::vgic

#endif  // IRQVIRT_VGIC_BEST_BY_KEY_H_
