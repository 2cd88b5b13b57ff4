// SPDX-License-Identifier: MIT
// The simulated x86 host's numbering: which vectors, pins and IRTEs mean what. A hypervisor
// picks its own; these only have to be distinct.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_

#include <cstdint>

#include "examples/host_sim/cost_model.h"

namespace host_sim::x86 {

// Host vectors.
inline constexpr uint8_t kGaLogVector = 0xe0;        // the GA log interrupt (GA log mode)
inline constexpr uint8_t kFirstWakeupVector = 0xf1;  // wakeup vectors (GAPPI mode)
inline constexpr int kWakeupVectorsPerCpu = 2;       // sharded: each scans half the parked vCPUs

// Guest vectors and pins.
inline constexpr int kIrtesPerDevice = 4;         // an assigned device's MSI-X vectors (queues)
inline constexpr uint8_t kFirstMsiVector = 0x40;  // MSIs use 0x40..0x4f
inline constexpr int kLinesPerVm = 4;             // level lines on I/O APIC pins 16..19 (INTx)
inline constexpr int kFirstLinePin = 16;
inline constexpr uint8_t kFirstLineVector = 0x80;  // pin 16 + i uses vector 0x80 + i

// How often the world changes.
inline constexpr double kHotplugPerMs = 0.2;
inline constexpr cost::Ns kOfflineFor = 1000 * cost::kUs;
inline constexpr double kAffinityChangesPerMs = 0.5;

// Ledger keys.
inline uint64_t MsiKey(int vcpu, uint8_t vector) { return (uint64_t(vcpu) << 8) | vector; }
inline uint64_t LineKey(int vm, int line) { return (uint64_t(vm) << 8) | uint64_t(line); }

}  // namespace host_sim::x86

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_X86_LAYOUT_H_
