// SPDX-License-Identifier: MIT
#include "hw/fake/logical_platform.h"

#include <utility>

#include "absl/strings/str_format.h"

namespace hw::fake {

LogicalPlatform::LogicalPlatform(int num_cpus, uint32_t max_vcpus)
    : cpus_(num_cpus), wakes_(max_vcpus, 0) {
  for (int c = 0; c < num_cpus; ++c) cpus_[c].apic_id = 2 * static_cast<uint32_t>(c);
  violations_.reserve(16);
}

uint32_t LogicalPlatform::apic_id(int cpu) const {
  if (cpu < 0 || cpu >= num_cpus()) return 0xffffffffu;
  return cpus_[cpu].apic_id;
}

void LogicalPlatform::Violation(std::string what) { violations_.push_back(std::move(what)); }

void LogicalPlatform::Acquire(SpinLock& lock) {
  if (lock.holder_cpu_ != -1) {
    // Single-threaded model: a held lock can only be re-taken by the context it interrupted.
    Violation(absl::StrFormat("deadlock: CPU %d spins on a lock held by CPU %d", current_cpu_,
                              lock.holder_cpu_));
    return;
  }
  lock.holder_cpu_ = current_cpu_;
}

IrqFlags LogicalPlatform::LockIrqSave(SpinLock& lock) {
  Cpu& c = cpus_[current_cpu_];
  const IrqFlags flags = c.irqs_disabled ? 1 : 0;
  c.irqs_disabled = true;
  Acquire(lock);
  return flags;
}

void LogicalPlatform::UnlockIrqRestore(SpinLock& lock, IrqFlags flags) {
  lock.holder_cpu_ = -1;
  cpus_[current_cpu_].irqs_disabled = flags != 0;
  if (flags == 0) DeliverPending(current_cpu_);
}

void LogicalPlatform::LockIrqsOff(SpinLock& lock) {
  if (!cpus_[current_cpu_].irqs_disabled) {
    Violation(absl::StrFormat(
        "CPU %d took an interrupt-handler lock with interrupts enabled", current_cpu_));
  }
  Acquire(lock);
}

void LogicalPlatform::UnlockIrqsOff(SpinLock& lock) { lock.holder_cpu_ = -1; }

void LogicalPlatform::WakeVcpu(uint32_t vcpu) {
  if (vcpu < wakes_.size()) ++wakes_[vcpu];
  ++total_wakes_;
}

void LogicalPlatform::SendSelfIpi(uint8_t vector) {
  ++self_ipis_;
  RaiseInterrupt(current_cpu_, vector);
}

absl::Status LogicalPlatform::RegisterVectorHandler(uint8_t vector, VectorHandler handler,
                                                    void* context) {
  return vectors_.Register(vector, handler, context);
}

void LogicalPlatform::UnregisterVectorHandler(uint8_t vector) { vectors_.Unregister(vector); }

void LogicalPlatform::SetCurrentCpu(int cpu) { current_cpu_ = cpu; }

void LogicalPlatform::SetIrqsDisabled(int cpu, bool disabled) {
  cpus_[cpu].irqs_disabled = disabled;
  if (!disabled) DeliverPending(cpu);
}

void LogicalPlatform::RaiseInterrupt(int cpu, uint8_t vector) {
  if (cpu < 0 || cpu >= num_cpus() || !cpus_[cpu].online) {
    ++lost_interrupts_;
    return;
  }
  cpus_[cpu].pending.set(vector);
  if (!cpus_[cpu].irqs_disabled) DeliverPending(cpu);
}

void LogicalPlatform::SetOnline(int cpu, bool online) {
  cpus_[cpu].online = online;
  if (!online) {
    // What was already latched is handled on the way down; later interrupts are lost.
    DeliverPending(cpu);
  }
}

void LogicalPlatform::DeliverPending(int cpu) {
  Cpu& c = cpus_[cpu];
  if (c.irqs_disabled) return;
  const int saved_cpu = current_cpu_;
  current_cpu_ = cpu;
  while (c.pending.any()) {
    int vector = 255;
    while (!c.pending.test(vector)) --vector;  // highest vector first, like the local APIC
    c.pending.reset(vector);
    c.irqs_disabled = true;
    ++delivered_interrupts_;
    if (!vectors_.Dispatch(cpu, static_cast<uint8_t>(vector))) ++spurious_interrupts_;
    c.irqs_disabled = false;
  }
  current_cpu_ = saved_cpu;
}

}  // namespace hw::fake
