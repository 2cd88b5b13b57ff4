// SPDX-License-Identifier: MIT
// Runs the whole simulated host: the x86 hosts (GA log, GAPPI, VT-d, and the KVM baseline), the
// arm64 GICv3 VM and the GICv5 VM, each on its own event loop, and collects one report.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_SIMULATION_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_SIMULATION_H_

#include <ostream>
#include <string>
#include <vector>

#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/trace.h"

namespace host_sim {

// `progress` (may be null) gets a line about once a second for runs longer than two seconds.
// `trace` (may be null) records the timeline.
Report RunSimulation(const SimOptions& options, std::ostream* progress, Trace* trace = nullptr);

// The command: parses `args` (without the program name), runs, prints the report to `out`.
// Returns the exit status: 0 all delivered, 1 lost interrupts or broken invariants (named on
// `err`), 2 bad flags.
// `hooks` injects test-only defects (options.h); the command line cannot set them.
int HostSimMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const TestHooks& hooks = {});

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_SIMULATION_H_
