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
    s.context.store(context, std::memory_order_seq_cst);
    VectorHandler expected = nullptr;
    if (!s.handler.compare_exchange_strong(expected, handler, std::memory_order_seq_cst)) {
      return absl::AlreadyExistsError(
          absl::StrFormat("vector %#x: a handler is already registered", vector));
    }
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
    if (h != nullptr) h(s.context.load(std::memory_order_seq_cst), cpu, vector);
    s.in_flight.fetch_sub(1, std::memory_order_seq_cst);
    return h != nullptr;
  }

  bool IsRegistered(uint8_t vector) const {
    return slots_[vector].handler.load(std::memory_order_acquire) != nullptr;
  }

 private:
  struct Slot {
    std::atomic<VectorHandler> handler{nullptr};
    std::atomic<void*> context{nullptr};
    std::atomic<int> in_flight{0};
  };
  std::array<Slot, 256> slots_;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_VECTOR_TABLE_H_
