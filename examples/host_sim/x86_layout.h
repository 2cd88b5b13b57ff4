// SPDX-License-Identifier: MIT
// The simulated x86 host's numbering: which vectors, pins and IRTEs mean what. A hypervisor
// picks its own; these only have to be distinct.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_

#include <cstdint>

#include "examples/host_sim/cost_model.h"

namespace host_sim::x86 {

// Host vectors.
inline constexpr uint8_t kGaLogVector = 0xe0;           // the GA log interrupt (AMD GA log mode)
inline constexpr uint8_t kFirstWakeupVector = 0xf1;     // wakeup vectors (AMD GAPPI mode)
inline constexpr uint8_t kVtdFirstWakeupVector = 0xe1;  // wakeup vectors (VT-d)
inline constexpr uint8_t kVtdPostedVector = 0xf2;       // VT-d: Linux's POSTED_INTR_VECTOR
inline constexpr int kWakeupVectorsPerCpu = 2;  // sharded: each scans half the parked vCPUs

// Guest vectors and pins.
inline constexpr int kIrtesPerDevice = 4;         // an assigned device's MSI-X vectors (queues)
inline constexpr uint8_t kFirstMsiVector = 0x40;  // MSIs use 0x40..0x4f
inline constexpr int kLinesPerVm = 4;             // level lines on I/O APIC pins 16..19 (INTx)
inline constexpr int kFirstLinePin = 16;
inline constexpr uint8_t kFirstLineVector = 0x80;  // pin 16 + i uses vector 0x80 + i

// The guests' I/O APIC devices: a driver services at most this many work items per interrupt
// and leaves the line high if the device has more (the I/O APIC must deliver it again at EOI);
// now and then a device gets a burst of work, which keeps its line high through several EOIs in
// a row and trips the storm guard the host configures (threshold and delay below; KVM uses
// 10000 and 10 ms, which a 100 ms run would never reach).
inline constexpr int kLineItemsPerInterrupt = 1;
inline constexpr double kLineBurstShare = 0.1;  // of line work events
inline constexpr int kLineBurstItems = 6;
inline constexpr uint32_t kStormThreshold = 4;
inline constexpr cost::Ns kStormDelay = 20 * cost::kUs;

// Host work with interrupts off (a long lock hold in a host driver, a flood of console
// output): each pCPU now and then takes no interrupt for a while. An interrupt for it waits;
// while the GA log CPU is in one, a storm to blocked vCPUs fills the GA log.
inline constexpr double kIrqsOffPerMs = 1.0;  // per pCPU
inline constexpr cost::Ns kIrqsOffMin = 50 * cost::kUs;
inline constexpr cost::Ns kIrqsOffMax = 250 * cost::kUs;

// The scheduler: a vCPU runs this long before it is preempted (if others wait), and its guest
// is busy this long on average before it idles and halts.
inline constexpr cost::Ns kSlice = 200 * cost::kUs;
inline constexpr cost::Ns kMeanGuestRun = 40 * cost::kUs;

// How often the world changes.
inline constexpr double kHotplugPerMs = 0.2;
inline constexpr cost::Ns kOfflineFor = 1000 * cost::kUs;
inline constexpr double kAffinityChangesPerMs = 0.5;

// Ledger keys.
inline uint64_t MsiKey(int vcpu, uint8_t vector) { return (uint64_t(vcpu) << 8) | vector; }
inline uint64_t LineKey(int vm, int line) { return (uint64_t(vm) << 8) | uint64_t(line); }

}  // namespace host_sim::x86

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_
