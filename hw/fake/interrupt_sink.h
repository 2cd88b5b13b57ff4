// SPDX-License-Identifier: MIT
// Where a fake device's outgoing interrupts go: a fixed-vector interrupt to a physical APIC ID, or
// an AVIC doorbell to a running vCPU's pCPU. PlatformInterruptSink connects it to a fake platform
// (LogicalPlatform or ThreadedPlatform): the APIC ID is looked up among the platform's CPUs and
// the vector raised there; doorbells are counted per CPU (the guest sees the IRR on its own).
#ifndef IRQVIRT_HW_FAKE_INTERRUPT_SINK_H_
#define IRQVIRT_HW_FAKE_INTERRUPT_SINK_H_

#include <atomic>
#include <cstdint>
#include <memory>

namespace hw::fake {

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  virtual void SendInterrupt(uint32_t apic_id, uint8_t vector) = 0;
  virtual void RingDoorbell(uint32_t apic_id) = 0;
};

template <typename Platform>
class PlatformInterruptSink : public InterruptSink {
 public:
  explicit PlatformInterruptSink(Platform& platform)
      : platform_(platform), doorbells_(new std::atomic<uint64_t>[platform.num_cpus()]()) {}

  void SendInterrupt(uint32_t apic_id, uint8_t vector) override {
    const int cpu = CpuOf(apic_id);
    if (cpu < 0) {
      unknown_destinations_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    platform_.RaiseInterrupt(cpu, vector);
  }
  void RingDoorbell(uint32_t apic_id) override {
    const int cpu = CpuOf(apic_id);
    if (cpu < 0) {
      unknown_destinations_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    doorbells_[cpu].fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t doorbells(int cpu) const { return doorbells_[cpu].load(std::memory_order_relaxed); }
  // Interrupts aimed at an APIC ID no CPU has (an uninitialised or stale destination).
  uint64_t unknown_destinations() const {
    return unknown_destinations_.load(std::memory_order_relaxed);
  }

 private:
  int CpuOf(uint32_t apic_id) const {
    for (int c = 0; c < platform_.num_cpus(); ++c) {
      if (platform_.apic_id(c) == apic_id) return c;
    }
    return -1;
  }

  Platform& platform_;
  std::unique_ptr<std::atomic<uint64_t>[]> doorbells_;
  std::atomic<uint64_t> unknown_destinations_{0};
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_INTERRUPT_SINK_H_
