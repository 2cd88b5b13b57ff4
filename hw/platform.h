// SPDX-License-Identifier: MIT
// What irqvirt needs from the embedding hypervisor's platform, as a C++20 concept. Hot paths
// (the wakeup handler, park/unpark) take the platform as a template parameter so that the lock
// and the wake call inline; the fakes in hw/fake/ model the same concept.
//
// Locks: `SpinLock` is an IRQ-safe spinlock. Task context takes it with LockIrqSave (interrupts
// off while held, restored by UnlockIrqRestore); interrupt handlers, which already run with
// interrupts off, take it with LockIrqsOff. A lock that an interrupt handler takes must never be
// held with interrupts on, or the handler deadlocks against the context it interrupted; the fake
// platforms detect exactly that and report it as a violation.
#ifndef IRQVIRT_HW_PLATFORM_H_
#define IRQVIRT_HW_PLATFORM_H_

#include <concepts>
#include <cstdint>

#include "absl/status/status.h"

namespace hw {

// Interrupt handler for one vector, called on `cpu` with interrupts off.
using VectorHandler = void (*)(void* context, int cpu, uint8_t vector);

// Saved interrupt state returned by LockIrqSave.
using IrqFlags = uint64_t;

// The IRQ-safe spinlock alone, for cores that need nothing else from the platform (the vGIC).
template <typename P>
concept IrqSafeLocks = requires(P& p, typename P::SpinLock& lock, IrqFlags flags) {
  typename P::SpinLock;
  { p.LockIrqSave(lock) } -> std::same_as<IrqFlags>;
  { p.UnlockIrqRestore(lock, flags) } -> std::same_as<void>;
  { p.LockIrqsOff(lock) } -> std::same_as<void>;
  { p.UnlockIrqsOff(lock) } -> std::same_as<void>;
};

template <typename P>
concept Platform = requires(P& p, const P& cp, typename P::SpinLock& lock, IrqFlags flags, int cpu,
                            uint8_t vector, uint32_t vcpu, VectorHandler handler, void* context) {
  typename P::SpinLock;
  { cp.num_cpus() } -> std::same_as<int>;
  { cp.current_cpu() } -> std::same_as<int>;
  { cp.apic_id(cpu) } -> std::same_as<uint32_t>;
  { p.LockIrqSave(lock) } -> std::same_as<IrqFlags>;
  { p.UnlockIrqRestore(lock, flags) } -> std::same_as<void>;
  { p.LockIrqsOff(lock) } -> std::same_as<void>;
  { p.UnlockIrqsOff(lock) } -> std::same_as<void>;
  // Wakes the embedder's vCPU `vcpu` (a thread or a scheduler entity). IRQ-safe, never blocks.
  { p.WakeVcpu(vcpu) } -> std::same_as<void>;
  // Sends `vector` to the current CPU; it arrives once interrupts are enabled again.
  { p.SendSelfIpi(vector) } -> std::same_as<void>;
  // Cold path. Unregister returns only after every running instance of the handler has finished.
  { p.RegisterVectorHandler(vector, handler, context) } -> std::same_as<absl::Status>;
  { p.UnregisterVectorHandler(vector) } -> std::same_as<void>;
};

}  // namespace hw

#endif  // IRQVIRT_HW_PLATFORM_H_
