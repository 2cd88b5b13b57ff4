// SPDX-License-Identifier: MIT
#include "examples/host_sim/flags.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace host_sim {
namespace {

absl::Status Bad(const std::string& flag, const std::string& value, const std::string& want) {
  return absl::InvalidArgumentError(absl::StrFormat("--%s=%s: %s (see --help)", flag, value, want));
}

absl::Status ParseInt(const std::string& flag, const std::string& value, int64_t lo, int64_t hi,
                      int64_t& out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < lo || v > hi) {
    return Bad(flag, value, absl::StrFormat("expected an integer in %d..%d", lo, hi));
  }
  out = v;
  return absl::OkStatus();
}

absl::Status ParseDouble(const std::string& flag, const std::string& value, double lo, double hi,
                         double& out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(v) || v < lo || v > hi) {
    return Bad(flag, value, absl::StrFormat("expected a number in %g..%g", lo, hi));
  }
  out = v;
  return absl::OkStatus();
}

}  // namespace

std::string Usage() {
  return "usage: host_sim [flags]\n"
         "A seeded, deterministic simulation of one host built from irqvirt and its fakes.\n"
         "  --arch=x86|arm64|both    which half to simulate (both)\n"
         "  --mode=all|galog|gappi|vtd  x86 hosts: AMD GA log, AMD GAPPI, Intel VT-d, or all (all)\n"
         "  --seed=N                 random seed (1)\n"
         "  --duration_us=N          simulated device traffic, 100..2000000 (20000)\n"
         "  --pcpus=N                x86 pCPUs, 2..64 (4)\n"
         "  --vms=N                  x86 VMs, 1..64 (4)\n"
         "  --vcpus=N                vCPUs per VM (x86 and each arm64 VM), 1..16 (4)\n"
         "  --devices=N              x86 assigned devices, 4 IRTEs each, 1..256 (8)\n"
         "  --lrs=N                  arm64 GICv3 list registers per vCPU, 1..16 (4)\n"
         "  --msi_rate=R             MSIs per ms per device, 0..1000 (4)\n"
         "  --storm_rate=R           MSI storms per ms, 0..10 (0.3)\n"
         "  --storm_len_us=N         a storm's length, 1..10000 (50)\n"
         "  --storm_per_us=R         a storm's MSIs per us, 0.01..50 (20)\n"
         "  --line_rate=R            I/O APIC line work events per ms per pin, 0..100 (2)\n"
         "  --reroute_rate=R         guest I/O APIC re-routes per ms per VM, 0..100 (1)\n"
         "  --spi_rate=R             arm64 GICv3 SPIs per ms, 0..2000 (60)\n"
         "  --batch_rate=R           arm64 GICv3 batches (more SPIs at once than LRs) per ms,\n"
         "                           0..100 (1)\n"
         "  --v5_spi_rate=R          arm64 GICv5 SPIs per ms, 0..2000 (40)\n"
         "  --json                   machine-readable output\n"
         "  --no_baseline            skip the baseline runs (KVM's GA log restart)\n"
         "  --check                  the planted-bug tests' run: 3 ms of busier traffic, stop at\n"
         "                           the first failure (other flags still apply)\n"
         "  --trace=FILE             write the timeline as Chrome trace-event JSON (Perfetto,\n"
         "                           chrome://tracing)\n"
         "  --trace_filter=SPEC      keep part of it: component=K[+K...],vm=N,from_us=N,to_us=N\n"
         "                           (components: x86_galog, x86_gappi, x86_vtd, x86_baseline,\n"
         "                           arm64_gicv3, arm64_gicv5)\n"
         "Exit status: 0 all delivered, 1 an interrupt lost or an invariant broken, 2 bad flags.\n";
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args) {
  ParsedFlags p;
  SimOptions& o = p.options;
  // --check is a preset: the flags after (and before) it still change it.
  if (std::find(args.begin(), args.end(), "--check") != args.end()) o = CheckOptions(o);
  bool trace_filter_given = false;
  using Setter = std::function<absl::Status(const std::string& flag, const std::string& value)>;
  const auto integer = [](int64_t lo, int64_t hi, auto* field) -> Setter {
    return [lo, hi, field](const std::string& f, const std::string& v) {
      int64_t x = 0;
      absl::Status s = ParseInt(f, v, lo, hi, x);
      if (s.ok()) *field = static_cast<std::remove_pointer_t<decltype(field)>>(x);
      return s;
    };
  };
  const auto number = [](double lo, double hi, double* field) -> Setter {
    return [lo, hi, field](const std::string& f, const std::string& v) {
      return ParseDouble(f, v, lo, hi, *field);
    };
  };
  const std::map<std::string, Setter> setters = {
      {"arch",
       [&o](const std::string& f, const std::string& v) {
         if (v == "x86")
           o.arch = Arch::kX86;
         else if (v == "arm64")
           o.arch = Arch::kArm64;
         else if (v == "both")
           o.arch = Arch::kBoth;
         else
           return Bad(f, v, "expected x86, arm64 or both");
         return absl::OkStatus();
       }},
      {"mode",
       [&o](const std::string& f, const std::string& v) {
         if (v == "all")
           o.x86_modes = {X86Mode::kGaLog, X86Mode::kGappi, X86Mode::kVtd};
         else if (v == "galog")
           o.x86_modes = {X86Mode::kGaLog};
         else if (v == "gappi")
           o.x86_modes = {X86Mode::kGappi};
         else if (v == "vtd")
           o.x86_modes = {X86Mode::kVtd};
         else
           return Bad(f, v, "expected all, galog, gappi or vtd");
         return absl::OkStatus();
       }},
      {"trace",
       [&o](const std::string& f, const std::string& v) {
         if (v.empty()) return Bad(f, v, "expected a file name");
         o.trace_path = v;
         return absl::OkStatus();
       }},
      {"trace_filter",
       [&o, &trace_filter_given](const std::string&, const std::string& v) {
         absl::StatusOr<TraceFilter> filter = ParseTraceFilter(v);
         if (!filter.ok()) return filter.status();
         o.trace_filter = *filter;
         trace_filter_given = true;
         return absl::OkStatus();
       }},
      {"seed", integer(0, INT64_MAX, &o.seed)},
      {"duration_us", integer(100, 2000000, &o.duration_us)},
      {"pcpus", integer(2, 64, &o.pcpus)},
      {"vms", integer(1, 64, &o.vms)},
      {"vcpus", integer(1, 16, &o.vcpus)},
      {"devices", integer(1, 256, &o.devices)},
      {"lrs", integer(1, 16, &o.lrs)},
      {"msi_rate", number(0, 1000, &o.msi_rate)},
      {"storm_rate", number(0, 10, &o.storm_rate)},
      {"storm_len_us", integer(1, 10000, &o.storm_len_us)},
      {"storm_per_us", number(0.01, 50, &o.storm_per_us)},
      {"line_rate", number(0, 100, &o.line_rate)},
      {"reroute_rate", number(0, 100, &o.reroute_rate)},
      {"spi_rate", number(0, 2000, &o.spi_rate)},
      {"batch_rate", number(0, 100, &o.batch_rate)},
      {"v5_spi_rate", number(0, 2000, &o.v5_spi_rate)},
  };
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      p.help = true;
      continue;
    }
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (arg == "--no_baseline") {
      o.baseline = false;
      continue;
    }
    if (arg == "--check") continue;  // applied first
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unexpected argument '%s': flags look like --name=value (see --help)", arg));
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto it = setters.find(name);
    if (it == setters.end()) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown flag --%s (see --help)", name));
    }
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--%s needs a value: --%s=...", name, name));
    }
    if (absl::Status s = it->second(name, arg.substr(eq + 1)); !s.ok()) return s;
  }
  if (trace_filter_given && o.trace_path.empty()) {
    return absl::InvalidArgumentError("--trace_filter needs --trace=FILE (see --help)");
  }
  if (o.arch != Arch::kArm64 && o.vms * o.vcpus > 512) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--vms=%d --vcpus=%d: at most 512 x86 vCPUs in all", o.vms, o.vcpus));
  }
  return p;
}

}  // namespace host_sim
