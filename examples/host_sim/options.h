// SPDX-License-Identifier: MIT
// What one simulation run is: the host's shape, the device traffic and the simulated time.
// Every field has a command-line flag of the same name (see flags.h).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_OPTIONS_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "examples/host_sim/trace.h"

namespace host_sim {

enum class Arch { kX86, kArm64, kBoth };
// The x86 hosts: AMD IOMMU with GA log or GAPPI wakeups, Intel VT-d with PI descriptors.
enum class X86Mode { kGaLog, kGappi, kVtd };

// Deliberate defects in the simulated hypervisor (not in irqvirt), for tests only: they show that
// the accounting can fail. (Defects in irqvirt itself are irqvirt/planted_bug.h.)
struct TestHooks {
  // Run irqvirt's router with RouterConfig::rescan_after_overflow = false (KVM's GA log restart)
  // while reporting it as irqvirt: wakeups carried by dropped GA log entries are lost.
  bool ga_log_restart_without_rescan = false;
  // The hypervisor loses every `drop_every_nth_wake`-th wakeup that irqvirt asks for (0: none).
  uint32_t drop_every_nth_wake = 0;
};

struct SimOptions {
  Arch arch = Arch::kBoth;
  std::vector<X86Mode> x86_modes = {X86Mode::kGaLog, X86Mode::kGappi, X86Mode::kVtd};
  uint64_t seed = 1;
  uint64_t duration_us = 20000;  // device traffic runs this long; then the host drains
  // x86
  int pcpus = 4;
  int vms = 4;
  int vcpus = 4;             // per VM (x86, and each arm64 VM)
  int devices = 8;           // assigned devices posting MSIs, 4 IRTEs each
  double msi_rate = 4;       // MSIs per ms per device
  double storm_rate = 0.3;   // storms per ms (all devices together)
  int storm_len_us = 50;     // a storm's length
  double storm_per_us = 20;  // a storm's MSIs per µs
  double line_rate = 2;      // level-line work items per ms per I/O APIC pin
  double reroute_rate = 1;   // guest I/O APIC re-programmings per ms per VM
  // arm64
  int lrs = 4;              // list registers per vCPU
  double spi_rate = 60;     // GICv3 SPIs per ms (edge and level together)
  double batch_rate = 1;    // GICv3 batches per ms: more SPIs for one vCPU at once than LRs
  double v5_spi_rate = 40;  // GICv5 SPIs per ms
  bool json = false;
  bool baseline = true;  // also run the documented baselines on the same event stream
  // --check: the short run the planted-bug tests use; stops at the first failure.
  bool check = false;
  bool stop_at_first_failure = false;
  // --trace=FILE: the timeline, limited by --trace_filter.
  std::string trace_path;
  TraceFilter trace_filter;
  TestHooks hooks;
};

// The --check run: a few simulated milliseconds whose traffic exercises every mechanism.
SimOptions CheckOptions(SimOptions base);

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_OPTIONS_H_
