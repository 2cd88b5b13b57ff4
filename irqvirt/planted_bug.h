// SPDX-License-Identifier: MIT
// Planted bugs: realistic defects that a test can switch on, one at a time, to show that an
// oracle (examples/host_sim, tests/examples/host_sim_planted_bugs_test.cc) catches them.
//
// Only a build that defines IRQVIRT_PLANTED_BUGS has the switch; the test builds its own copy of
// the code with it. In every other build IRQVIRT_PLANTED(name) is the constant `false`, so the
// compiler removes the defect and the check with it: a production build carries no switch, on a
// hot path or anywhere else.
//
//   if (IRQVIRT_PLANTED(kWakeupHandlerStopsAfterFirstWake)) break;
#ifndef IRQVIRT_PLANTED_BUG_H_
#define IRQVIRT_PLANTED_BUG_H_

#include <atomic>
#include <cstdint>

namespace irqvirt {

enum class PlantedBug : uint8_t {
  kNone,
  // Wakeup-vector handler (GAPPI, VT-d): returns after the first vCPU it wakes.
  kWakeupHandlerStopsAfterFirstWake,
  // GA log handler: wakes only the vCPU of the first entry of each drain.
  kGaLogHandlerStopsAfterFirstWake,
  // Wakeup-vector handler: never looks at the last vCPU parked on its queue.
  kWakeupHandlerSkipsLastParked,
  // Block (AMD and VT-d routers): does not look for an interrupt that arrived before parking.
  kBlockSkipsPendingRecheck,
  // vGIC (GICv3): an edge that arrives while its interrupt is active is dropped.
  kVgicDropsEdgeWhileActive,
  // AMD router: a running vCPU's IRTEs keep naming its home CPU after it migrated.
  kDoorbellStaysOnHomeCpu,
  // I/O APIC: at EOI, a level line that is still asserted is not delivered again.
  kIoapicNoRedeliveryAtEoi,
  // vGIC (GICv3): a level line still high when the guest deactivated it is not resampled.
  kVgicNoResampleAtFold,
  // GICv5 fold: a level SPI whose line is high but lost its pending state is not re-pended.
  kGicv5NoLevelRepend,
  // vGIC (GICv3): ICH_HCR_EL2.NPIE is never set.
  kVgicNeverSetsNpie,
};

#if defined(IRQVIRT_PLANTED_BUGS)
namespace planted_bug_internal {
inline std::atomic<PlantedBug> current{PlantedBug::kNone};
}  // namespace planted_bug_internal

// The bug the code under test has from now on (kNone: none). Test builds only.
inline void PlantBug(PlantedBug bug) {
  planted_bug_internal::current.store(bug, std::memory_order_relaxed);
}
inline bool BugPlanted(PlantedBug bug) {
  return planted_bug_internal::current.load(std::memory_order_relaxed) == bug;
}
#define IRQVIRT_PLANTED(name) (::irqvirt::BugPlanted(::irqvirt::PlantedBug::name))
#else
#define IRQVIRT_PLANTED(name) false
#endif

}  // namespace irqvirt

#endif  // IRQVIRT_PLANTED_BUG_H_
