// SPDX-License-Identifier: MIT
// The cost model: how much simulated host time each piece of interrupt work takes.
//
// Handlers and exits are charged for the work they actually did, counted from irqvirt's own
// statistics and the fakes' counters (entries drained, vCPUs scanned, vCPUs woken, IOMMU
// commands issued, list registers moved, GICv5 queries issued). A pCPU that is busy with host
// work takes its next interrupt only when that work is done, so a single GA-log CPU that drains
// a storm shows its latency, not only its drops. The numbers are round, plausible magnitudes
// for a 2020s server core, not measurements: they shape queueing, they do not predict a machine.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_COST_MODEL_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_COST_MODEL_H_

#include <cstdint>

namespace host_sim::cost {

// Simulated time is kept in nanoseconds; reports show microseconds.
using Ns = int64_t;
inline constexpr Ns kUs = 1000;

// --- x86 host ---
inline constexpr Ns kIrqEntry = 500;         // interrupt entry + exit on a pCPU
inline constexpr Ns kGaLogEntry = 100;       // read one GA log entry, look up its GA tag
inline constexpr Ns kVcpuScanned = 20;       // one IRR check (wakeup queue, post-overflow rescan)
inline constexpr Ns kVcpuWoken = 400;        // one scheduler wakeup from a handler
inline constexpr Ns kIommuCommand = 1000;    // one IOMMU command (invalidation + completion wait)
inline constexpr Ns kEoiExit = 1500;         // VM exit for an intercepted EOI + I/O APIC work
inline constexpr Ns kMmioExit = 2000;        // VM exit for one I/O APIC register access
inline constexpr Ns kGuestAckLatency = 200;  // doorbell / self-IPI until the guest's handler runs
inline constexpr Ns kGuestIrqHandler = 300;   // a guest's interrupt handler, acknowledge to EOI
inline constexpr Ns kHltExit = 1000;          // HLT: VM exit and the host's halt path until Block
inline constexpr Ns kPostLatency = 20;        // an IOMMU remapping and posting one interrupt
inline constexpr Ns kMsiWrite = 10;           // a device's MSI write on the link

// --- arm64 host ---
inline constexpr Ns kKickLatency = 2000;      // IPI to a vCPU in the guest, or a wake from WFI
inline constexpr Ns kVcpuExit = 800;          // one guest exit + re-entry, without vGIC work
inline constexpr Ns kListRegister = 50;       // one LR written on flush or read back on fold
inline constexpr Ns kMaintenanceExit = 1500;  // exit taken because ICH_MISR is non-zero
inline constexpr Ns kDirTrap = 1500;          // trapped ICV_DIR_EL1 write, handled, re-entered
inline constexpr Ns kGicv5Query = 100;        // one GIC VDRCFG (or VDPEND) issued by a fold
inline constexpr Ns kNotifier = 500;          // one deactivation notifier (resample / unmask)

}  // namespace host_sim::cost

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_COST_MODEL_H_
