// SPDX-License-Identifier: MIT
// A deterministic fake platform: pCPUs are logical (the test says which CPU code runs on), and
// interrupts are delivered synchronously when the target CPU has interrupts enabled, otherwise
// as soon as it enables them. It records what real hardware would make fatal or invisible:
// a handler-side lock taken with interrupts on, a lock taken twice on one CPU (deadlock), an
// interrupt sent to an offline CPU (lost), and a vector nobody handles (spurious).
#ifndef IRQVIRT_HW_FAKE_LOGICAL_PLATFORM_H_
#define IRQVIRT_HW_FAKE_LOGICAL_PLATFORM_H_

#include <bitset>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "hw/fake/vector_table.h"
#include "hw/platform.h"

namespace hw::fake {

class LogicalPlatform {
 public:
  class ABSL_LOCKABLE SpinLock {
   private:
    friend class LogicalPlatform;
    int holder_cpu_ = -1;
  };

  // APIC IDs default to 2 * cpu so that CPU index and APIC ID are never confused in tests.
  explicit LogicalPlatform(int num_cpus, uint32_t max_vcpus = 4096);

  // --- hw::Platform ---
  int num_cpus() const { return static_cast<int>(cpus_.size()); }
  int current_cpu() const { return current_cpu_; }
  uint32_t apic_id(int cpu) const;
  IrqFlags LockIrqSave(SpinLock& lock)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;  // the primitive itself
  void UnlockIrqRestore(SpinLock& lock, IrqFlags flags)
      ABSL_UNLOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void LockIrqsOff(SpinLock& lock)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockIrqsOff(SpinLock& lock) ABSL_UNLOCK_FUNCTION(lock) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void WakeVcpu(uint32_t vcpu);
  void SendSelfIpi(uint8_t vector);
  absl::Status RegisterVectorHandler(uint8_t vector, VectorHandler handler, void* context);
  void UnregisterVectorHandler(uint8_t vector);

  // --- test controls ---
  // Code that follows runs "on" `cpu`, with that CPU's interrupt state.
  void SetCurrentCpu(int cpu);
  bool irqs_disabled(int cpu) const { return cpus_[cpu].irqs_disabled; }
  void SetIrqsDisabled(int cpu, bool disabled);
  // A device or another CPU sends `vector` to `cpu`.
  void RaiseInterrupt(int cpu, uint8_t vector);
  void SetOnline(int cpu, bool online);
  bool online(int cpu) const { return cpus_[cpu].online; }
  void set_apic_id(int cpu, uint32_t apic_id) { cpus_[cpu].apic_id = apic_id; }

  // --- observations ---
  uint64_t wake_count(uint32_t vcpu) const { return vcpu < wakes_.size() ? wakes_[vcpu] : 0; }
  uint64_t total_wakes() const { return total_wakes_; }
  uint64_t lost_interrupts() const { return lost_interrupts_; }
  uint64_t spurious_interrupts() const { return spurious_interrupts_; }
  uint64_t delivered_interrupts() const { return delivered_interrupts_; }
  uint64_t self_ipis() const { return self_ipis_; }
  const std::vector<std::string>& violations() const { return violations_; }
  bool handler_registered(uint8_t vector) const { return vectors_.IsRegistered(vector); }

 private:
  struct Cpu {
    uint32_t apic_id = 0;
    bool online = true;
    bool irqs_disabled = false;
    std::bitset<256> pending;
  };

  void Acquire(SpinLock& lock);
  void DeliverPending(int cpu);
  void Violation(std::string what);

  std::vector<Cpu> cpus_;
  int current_cpu_ = 0;
  std::vector<uint64_t> wakes_;  // sized at construction: WakeVcpu never allocates
  uint64_t total_wakes_ = 0;
  uint64_t lost_interrupts_ = 0;
  uint64_t spurious_interrupts_ = 0;
  uint64_t delivered_interrupts_ = 0;
  uint64_t self_ipis_ = 0;
  std::vector<std::string> violations_;
  VectorTable vectors_;
};

static_assert(Platform<LogicalPlatform>);

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_LOGICAL_PLATFORM_H_
