// SPDX-License-Identifier: MIT
// Handler registrations for the fake platforms: one slot per x86 vector. Unregister waits until
// no dispatch of that vector is running, as free_irq() does, so the handler's context may be
// freed as soon as it returns.
#ifndef IRQVIRT_HW_FAKE_VECTOR_TABLE_H_
#define IRQVIRT_HW_FAKE_VECTOR_TABLE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "hw/platform.h"

namespace hw::fake {

class VectorTable {
 public:
  absl::Status Register(uint8_t vector, VectorHandler handler, void* context) {
    if (handler == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("vector %#x: null handler", vector));
    }
    Slot& s = slots_[vector];
    // Take the slot first, then its context, then publish the handler: a refused registration
    // touches nothing, and a dispatch never pairs a handler with another's context.
    VectorHandler expected = nullptr;
    if (!s.handler.compare_exchange_strong(expected, &Reserved, std::memory_order_seq_cst)) {
      return absl::AlreadyExistsError(
          absl::StrFormat("vector %#x: a handler is already registered", vector));
    }
    s.context.store(context, std::memory_order_seq_cst);
    s.handler.store(handler, std::memory_order_seq_cst);
    return absl::OkStatus();
  }

  void Unregister(uint8_t vector) {
    Slot& s = slots_[vector];
    s.handler.store(nullptr, std::memory_order_seq_cst);
    while (s.in_flight.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

  // Runs the handler for `vector` on `cpu`; returns false when none is registered (spurious).
  bool Dispatch(int cpu, uint8_t vector) {
    Slot& s = slots_[vector];
    s.in_flight.fetch_add(1, std::memory_order_seq_cst);
    const VectorHandler h = s.handler.load(std::memory_order_seq_cst);
    const bool live = h != nullptr && h != &Reserved;
    if (live) h(s.context.load(std::memory_order_seq_cst), cpu, vector);
    s.in_flight.fetch_sub(1, std::memory_order_seq_cst);
    return live;
  }

  bool IsRegistered(uint8_t vector) const {
    return slots_[vector].handler.load(std::memory_order_acquire) != nullptr;
  }

 private:
  // Marks a slot taken by a registration that has not published its handler yet.
  static void Reserved(void*, int, uint8_t) {}

  struct Slot {
    std::atomic<VectorHandler> handler{nullptr};
    std::atomic<void*> context{nullptr};
    std::atomic<int> in_flight{0};
  };
  std::array<Slot, 256> slots_;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_VECTOR_TABLE_H_
