// SPDX-License-Identifier: MIT
#include "examples/host_sim/simulation.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "examples/host_sim/arm64_host.h"
#include "examples/host_sim/event_loop.h"
#include "examples/host_sim/flags.h"
#include "examples/host_sim/gicv5_host.h"
#include "examples/host_sim/x86_host.h"

namespace host_sim {
namespace {

// After the traffic stops the host runs on until every guest has gone idle.
constexpr cost::Ns kDrain = 5000 * cost::kUs;

const char* ArchName(Arch a) {
  return a == Arch::kX86 ? "x86" : a == Arch::kArm64 ? "arm64" : "both";
}

// One x86 host on its own event loop; `rescan` false is KVM's GA log restart.
void RunX86(const SimOptions& o, bool rescan, const std::string& label, Report& report,
            std::ostream* progress, EventLoop::WallTime run_start) {
  EventLoop loop;
  X86Host host(o, loop, rescan);
  if (absl::Status s = host.Init(); !s.ok()) {
    report.failures.push_back("x86: setting up the host: " + std::string(s.message()));
    return;
  }
  host.Start();
  loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress,
                label.empty() ? "x86" : "x86 baseline", run_start);
  host.Finish(report, label);
}

}  // namespace

Report RunSimulation(const SimOptions& o, std::ostream* progress) {
  const EventLoop::WallTime run_start = std::chrono::steady_clock::now();
  Report report;
  report.header = absl::StrFormat(
      "host_sim: seed %u, arch %s, %d us of device traffic (then drained)\n"
      "  x86: %s mode, %d pCPUs, %d VMs x %d vCPUs, %d devices x 4 IRTEs; "
      "arm64: %d vCPUs per VM, %d LRs",
      o.seed, ArchName(o.arch), o.duration_us, o.mode == PostedMode::kGaLog ? "GA log" : "GAPPI",
      o.pcpus, o.vms, o.vcpus, o.devices, o.vcpus, o.lrs);
  if (o.arch != Arch::kArm64) {
    SimOptions irqvirt_options = o;
    RunX86(irqvirt_options, !o.hooks.ga_log_restart_without_rescan, "", report, progress,
           run_start);
    if (o.baseline && o.mode == PostedMode::kGaLog) {
      // The documented baseline, on the same device event stream: each traffic source has its
      // own RNG stream, so only the host's reaction differs.
      Report b;
      RunX86(o, /*rescan=*/false, "KVM baseline", b, progress, run_start);
      auto after = std::find_if(report.components.begin(), report.components.end(),
                                [](const ComponentCount& c) { return c.key == "x86_posted_msi"; });
      if (after != report.components.end()) ++after;
      report.components.insert(after, b.components.begin(), b.components.end());
      auto section = report.sections.end();
      for (auto it = report.sections.begin(); it != report.sections.end(); ++it) {
        if (it->key == "x86_ga_log") section = it + 1;
      }
      report.sections.insert(section, b.sections.begin(), b.sections.end());
    }
  }
  if (o.arch != Arch::kX86) {
    {
      EventLoop loop;
      Arm64Host host(o, loop);
      if (absl::Status s = host.Init(); !s.ok()) {
        report.failures.push_back("arm64 GICv3: setting up: " + std::string(s.message()));
      } else {
        host.Start();
        loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress,
                      "arm64 GICv3", run_start);
        host.Finish(report);
      }
    }
    {
      EventLoop loop;
      Gicv5Host host(o, loop);
      if (absl::Status s = host.Init(); !s.ok()) {
        report.failures.push_back("arm64 GICv5: setting up: " + std::string(s.message()));
      } else {
        host.Start();
        loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress,
                      "arm64 GICv5", run_start);
        host.Finish(report);
      }
    }
  }
  return report;
}

int HostSimMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                const TestHooks& hooks) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args);
  if (!flags.ok()) {
    err << "host_sim: " << flags.status().message() << "\n";
    return 2;
  }
  if (flags->help) {
    out << Usage();
    return 0;
  }
  SimOptions options = flags->options;
  options.hooks = hooks;
  const Report report = RunSimulation(options, &err);
  out << (flags->options.json ? RenderJson(report) : RenderText(report)) << std::flush;
  if (!report.ok()) {
    for (const std::string& f : report.failures) err << "host_sim: FAIL: " << f << "\n";
    return 1;
  }
  return 0;
}

}  // namespace host_sim
