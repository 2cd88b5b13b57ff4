// SPDX-License-Identifier: MIT
// The end of an x86 run: every invariant irqvirt and the fakes can check, and the report.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {

void X86Host::Finish(Report& report, const std::string& label) {
  const bool baseline = !label.empty();
  const std::string tag = baseline ? " [" + label + "]" : "";
  std::vector<std::string> broken = failures_;
  if (absl::Status s = router_->CheckInvariants(); !s.ok()) {
    broken.push_back("x86: router invariants: " + std::string(s.message()));
  }
  if (queues_ != nullptr) {
    if (absl::Status s = queues_->CheckInvariants(); !s.ok()) {
      broken.push_back("x86: wakeup queue invariants: " + std::string(s.message()));
    }
  }
  for (const std::string& v : platform_.violations()) broken.push_back("x86 platform: " + v);
  if (platform_.lost_interrupts() != 0) {
    broken.push_back(
        absl::StrFormat("x86: %u interrupts sent to offline CPUs", platform_.lost_interrupts()));
  }
  if (platform_.spurious_interrupts() != 0) {
    broken.push_back(absl::StrFormat("x86: %u interrupts on vectors nobody handles",
                                     platform_.spurious_interrupts()));
  }
  if (sink_->unknown_destinations() != 0) {
    broken.push_back(absl::StrFormat("x86: %u interrupts aimed at no CPU's APIC ID",
                                     sink_->unknown_destinations()));
  }
  uint64_t storm_timer_fires = 0;
  for (int vm = 0; vm < options_.vms; ++vm) {
    storm_timer_fires += vms_[vm].storm_timer->fired();
    if (vms_[vm].storm_timer->armed()) {
      broken.push_back(absl::StrFormat("x86: VM %d: storm-guard timer still armed at the end", vm));
    }
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
      auto e = vms_[vm].ioapic->Entry(x86::kFirstLinePin + l);
      if (e.ok() && e->remote_irr() != 0) {
        broken.push_back(absl::StrFormat("x86: VM %d pin %d: Remote IRR still set at the end", vm,
                                         x86::kFirstLinePin + l));
      }
    }
  }
  // A vCPU still asleep with a pending interrupt at the end: its wakeup was lost too.
  for (int g = 0; g < total_vcpus_; ++g) {
    const Vcpu& v = vcpus_[g];
    if (v.state == State::kBlocked && !v.stranded && Page(g).Any(hw::x86::ApicVectorReg::kIrr)) {
      ++lost_wakeups_;
    }
  }
  if (!baseline && lost_wakeups_ != 0) {
    broken.push_back(absl::StrFormat(
        "x86: %u wakeups lost (a blocked vCPU had a pending interrupt and no wakeup coming)",
        lost_wakeups_));
  }
  const auto component = [&](const InterruptLedger& l, const std::string& key) {
    ComponentCount c;
    c.key = key + (baseline ? "_baseline" : "");
    c.title = l.component() + tag;
    c.raised = l.raised();
    c.delivered = l.delivered();
    c.lost = l.lost();
    c.baseline = baseline;
    report.components.push_back(c);
    if (!baseline && c.lost != 0) {
      report.failures.push_back(absl::StrFormat("%s: %u lost", l.component(), c.lost));
    }
  };
  component(msi_ledger_, "x86_posted_msi");
  if (!baseline) component(line_ledger_, "x86_ioapic_lines");
  if (!baseline) {
    for (const std::string& b : broken) report.failures.push_back(b);
  }

  const irqvirt::posted::RouterStats rs = router_->stats();
  const bool galog = router_->mode() == hw::amd::GuestIrMode::kGaLog;
  Section& w = report.AddSection(
      baseline ? "x86_wakeups_baseline" : "x86_wakeups",
      std::string("x86 wakeups (") + (galog ? "GA log" : "GAPPI") + " mode)" + tag);
  w.metrics = {{"wakes", double(wakes_)},
               {"lost_wakeups", double(lost_wakeups_)},
               {"spurious_wakeups", double(spurious_wakeups_)},
               {"redundant_wakes", double(redundant_wakes_)},
               {"wake_p50_us", wake_latency_.PercentileUs(50), false},
               {"wake_p99_us", wake_latency_.PercentileUs(99), false},
               {"wake_max_us", wake_latency_.MaxUs(), false},
               {"handler_runs", double(ga_log_handler_runs_ + wakeup_handler_runs_)},
               {"handler_us", double(handler_ns_) / cost::kUs, false},
               {"handler_max_us", double(max_handler_ns_) / cost::kUs, false},
               {"vcpus_scanned", double(vcpus_scanned_)},
               {"host_kicks", double(host_kicks_)}};
  if (dropped_wakes_ != 0) w.metrics.push_back({"dropped_wakes_defect", double(dropped_wakes_)});
  if (galog) {
    Section& g =
        report.AddSection(baseline ? "x86_ga_log_baseline" : "x86_ga_log", "x86 GA log" + tag);
    g.metrics = {{"entries", double(iommu_hw_->ga_log_entries_written())},
                 {"drops", double(iommu_hw_->ga_log_entries_dropped())},
                 {"overflows", double(rs.ga_log_overflows)},
                 {"rescans", double(rescan_after_overflow_ ? rs.ga_log_overflows : 0)},
                 {"rescan_wakes", double(rs.overflow_rescan_wakes)},
                 {"interrupts", double(iommu_hw_->ga_log_interrupts())},
                 {"cpu_retargets", double(ga_log_retargets_)}};
  } else {
    Section& g = report.AddSection("x86_gappi", "x86 GAPPI interrupts per CPU");
    for (int c = 0; c < options_.pcpus; ++c) {
      g.metrics.push_back({"cpu" + std::to_string(c), double(gappi_irqs_per_cpu_[c])});
    }
    g.metrics.push_back({"total", double(iommu_hw_->gappi_interrupts())});
  }
  if (baseline) return;
  Section& s = report.AddSection("x86_scheduler", "x86 scheduler and devices");
  s.metrics = {{"halts", double(halts_)},
               {"halts_aborted", double(halt_aborts_)},
               {"preemptions", double(preemptions_)},
               {"migrations", double(migrations_)},
               {"cpu_offlines", double(offlines_)},
               {"storms", double(storms_)},
               {"msi_affinity_changes", double(affinity_changes_)},
               {"rebind_wakes", double(rs.rebind_wakes)},
               {"iommu_commands", double(iommu_hw_->commands_executed())}};
  Section& io = report.AddSection("x86_ioapic", "x86 I/O APIC");
  io.metrics = {{"eoi_exits", double(eoi_exits_)},
                {"stale_eoi_rescans", double(stale_eoi_rescans_)},
                {"rescans", double(rescans_processed_)},
                {"reroutes", double(reroutes_)},
                {"reroutes_in_flight", double(reroutes_in_flight_)},
                {"mmio_exits", double(mmio_exits_)},
                {"storm_timer_fires", double(storm_timer_fires)}};
}

}  // namespace host_sim
