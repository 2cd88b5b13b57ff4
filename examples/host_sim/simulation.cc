// SPDX-License-Identifier: MIT
#include "examples/host_sim/simulation.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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

std::string ModeNames(const std::vector<X86Mode>& modes) {
  std::vector<std::string> names;
  for (X86Mode m : modes) {
    names.push_back(m == X86Mode::kGaLog ? "GA log" : m == X86Mode::kGappi ? "GAPPI" : "VT-d");
  }
  return absl::StrJoin(names, ", ");
}

// One x86 host on its own event loop. Returns false if it failed (or could not start).
bool RunX86(const SimOptions& o, X86Mode mode, bool rescan, bool baseline, Report& report,
            Trace& trace, std::ostream* progress, EventLoop::WallTime run_start) {
  EventLoop loop;
  X86Host host(o, loop, mode, rescan, baseline, trace);
  if (absl::Status s = host.Init(); !s.ok()) {
    report.failures.push_back(host.Name() + ": setting up the host: " + std::string(s.message()));
    return false;
  }
  host.Start();
  loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress, host.Name(),
                run_start);
  host.Finish(report);
  return !host.failed();
}

}  // namespace

SimOptions CheckOptions(SimOptions o) {
  // A few milliseconds, busier than the default so that every mechanism (and so every planted
  // bug's symptom) shows up in every seed: storms that overflow the GA log and trip the storm
  // guard, CPUs going offline, bursts on every arm64 vCPU.
  o.check = true;
  o.stop_at_first_failure = true;
  o.duration_us = 3000;
  o.msi_rate = 8;
  o.storm_rate = 1;
  o.storm_len_us = 100;
  o.storm_per_us = 6;
  o.line_rate = 6;
  o.reroute_rate = 3;
  o.spi_rate = 200;
  o.batch_rate = 5;
  o.v5_spi_rate = 120;
  return o;
}

Report RunSimulation(const SimOptions& o, std::ostream* progress, Trace* trace_out) {
  const EventLoop::WallTime run_start = std::chrono::steady_clock::now();
  Trace disabled;
  Trace& trace = trace_out != nullptr ? *trace_out : disabled;
  Report report;
  report.header = absl::StrFormat(
      "host_sim: seed %u, arch %s, %d us of device traffic (then drained)%s\n"
      "  x86: %s hosts on the same traffic, %d pCPUs, %d VMs x %d vCPUs, %d devices x 4 IRTEs; "
      "arm64: %d vCPUs per VM, %d LRs",
      o.seed, ArchName(o.arch), o.duration_us, o.check ? " [--check]" : "",
      ModeNames(o.x86_modes), o.pcpus, o.vms, o.vcpus, o.devices, o.vcpus, o.lrs);
  bool ok = true;
  const auto go_on = [&] { return ok || !o.stop_at_first_failure; };
  if (o.arch != Arch::kArm64) {
    for (X86Mode mode : o.x86_modes) {
      if (!go_on()) break;
      ok &= RunX86(o, mode, !o.hooks.ga_log_restart_without_rescan, false, report, trace, progress,
                   run_start);
      if (mode == X86Mode::kGaLog && o.baseline && go_on()) {
        // The documented baseline, on the same device event stream: each traffic source has its
        // own RNG stream, so only the host's reaction differs.
        RunX86(o, mode, /*rescan=*/false, /*baseline=*/true, report, trace, progress, run_start);
      }
    }
  }
  if (o.arch != Arch::kX86 && go_on()) {
    EventLoop loop;
    Arm64Host host(o, loop, trace);
    if (absl::Status s = host.Init(); !s.ok()) {
      report.failures.push_back("arm64 GICv3: setting up: " + std::string(s.message()));
      ok = false;
    } else {
      host.Start();
      loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress,
                    "arm64 GICv3", run_start);
      host.Finish(report);
      ok &= !host.failed();
    }
  }
  if (o.arch != Arch::kX86 && go_on()) {
    EventLoop loop;
    Gicv5Host host(o, loop, trace);
    if (absl::Status s = host.Init(); !s.ok()) {
      report.failures.push_back("arm64 GICv5: setting up: " + std::string(s.message()));
    } else {
      host.Start();
      loop.RunUntil(static_cast<cost::Ns>(o.duration_us) * cost::kUs + kDrain, progress,
                    "arm64 GICv5", run_start);
      host.Finish(report);
    }
  }
  // The mechanisms go last, after every host added its own.
  auto m = std::find_if(report.sections.begin(), report.sections.end(),
                        [](const Section& s) { return s.key == "mechanisms"; });
  if (m != report.sections.end()) std::rotate(m, m + 1, report.sections.end());
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
  std::unique_ptr<Trace> trace;
  if (!options.trace_path.empty()) {
    // Refuse an unwritable path before the run, not after it.
    FILE* probe = std::fopen(options.trace_path.c_str(), "wb");
    if (probe == nullptr) {
      err << "host_sim: --trace=" << options.trace_path << ": cannot open it for writing\n";
      return 2;
    }
    std::fclose(probe);
    trace = std::make_unique<Trace>(options.trace_filter);
  }
  const Report report = RunSimulation(options, &err, trace.get());
  if (trace != nullptr) {
    if (absl::Status s = trace->WriteFile(options.trace_path); !s.ok()) {
      err << "host_sim: " << s.message() << "\n";
      return 2;
    }
  }
  out << (options.json ? RenderJson(report) : RenderText(report)) << std::flush;
  if (!report.ok()) {
    for (const std::string& f : report.failures) err << "host_sim: FAIL: " << f << "\n";
    return 1;
  }
  return 0;
}

}  // namespace host_sim
