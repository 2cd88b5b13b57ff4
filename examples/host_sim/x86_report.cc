// SPDX-License-Identifier: MIT
// The end of an x86 run: what is left to check once it has drained, and the report. Every
// figure comes from irqvirt's, the fakes' or this hypervisor's own counters.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/x86_host.h"
#include "examples/host_sim/x86_layout.h"
#include "hw/x86/ioapic_regs.h"

namespace host_sim {

void X86Host::Finish(Report& report) {
  const cost::Ns now = loop_.now();
  if (!loop_.stopped()) CheckStranded("the end of the run");
  // The trace: close what is still open.
  for (int g = 0; g < total_vcpus_; ++g) {
    Vcpu& v = vcpus_[g];
    SetState(g, v.state);
    if (v.handler_vector >= 0) {
      trace_.Slice(v.irq_track, v.handler_start, std::max(now, v.handler_start + 2),
                   absl::StrFormat("IRQ %#x", v.handler_vector), TraceCat::kGuestIrq);
    }
  }
  std::vector<std::string> broken;
  if (!loop_.stopped()) {
    if (absl::Status s = posting_->CheckInvariants(); !s.ok()) {
      broken.push_back("router invariants: " + std::string(s.message()));
    }
    for (const std::string& v : posting_->HardwareViolations()) broken.push_back("IOMMU: " + v);
    for (const std::string& v : platform_.violations()) broken.push_back("platform: " + v);
    if (platform_.lost_interrupts() != 0) {
      broken.push_back(
          absl::StrFormat("%u interrupts sent to offline CPUs", platform_.lost_interrupts()));
    }
    if (platform_.spurious_interrupts() != 0) {
      broken.push_back(absl::StrFormat("%u interrupts on vectors nobody handles",
                                       platform_.spurious_interrupts()));
    }
    for (int vm = 0; vm < options_.vms; ++vm) {
      if (vms_[vm].storm_timer->armed()) {
        broken.push_back(absl::StrFormat("VM %d: storm-guard timer still armed at the end", vm));
      }
      for (int l = 0; l < x86::kLinesPerVm; ++l) {
        auto e = vms_[vm].ioapic->Entry(x86::kFirstLinePin + l);
        if (e.ok() && e->remote_irr() != 0) {
          broken.push_back(absl::StrFormat("VM %d pin %d: Remote IRR still set at the end", vm,
                                           x86::kFirstLinePin + l));
        }
      }
    }
    // What was never delivered, with its story (the first few).
    int told = 0;
    msi_ledger_.ForEachOutstanding([&](uint64_t key, const std::vector<InterruptLedger::Raise>& r) {
      const int g = static_cast<int>(key >> 8);
      if (baseline_ || told++ >= 3) return;
      for (const InterruptLedger::Raise& raise : r) {
        trace_.Slice(vcpus_[g].irq_track, now + 10, now + 12, "never delivered", TraceCat::kLost);
        trace_.FlowEnd(raise.flow, vcpus_[g].irq_track, now + 10);
      }
      broken.push_back(absl::StrFormat("vCPU %d: %u MSIs of vector %#llx raised since %.3f us "
                                       "were never delivered",
                                       g, r.size(), key & 0xff,
                                       static_cast<double>(r.front().at) / 1000) +
                       VcpuStory(g));
    });
    line_ledger_.ForEachOutstanding([&](uint64_t key, const std::vector<InterruptLedger::Raise>& r) {
      if (told++ >= 3) return;
      broken.push_back(absl::StrFormat("VM %llu pin %llu: %u work items raised since %.3f us were "
                                       "never serviced",
                                       key >> 8, x86::kFirstLinePin + (key & 0xff), r.size(),
                                       static_cast<double>(r.front().at) / 1000) +
                       stories_.Tell(0x10000 + key, "that line"));
    });
  }
  // The baseline's undelivered interrupts end their flows at the end of the run.
  if (baseline_) {
    msi_ledger_.ForEachOutstanding([&](uint64_t key, const std::vector<InterruptLedger::Raise>& r) {
      const int g = static_cast<int>(key >> 8);
      trace_.Slice(vcpus_[g].irq_track, now + 10, now + 12, "never delivered", TraceCat::kLost);
      for (const InterruptLedger::Raise& raise : r) {
        trace_.FlowEnd(raise.flow, vcpus_[g].irq_track, now + 10);
      }
    });
  }

  const std::string name = Name();
  const std::string key = "x86" + Key();
  const auto component = [&](const std::string& suffix, const std::string& title, uint64_t raised,
                             uint64_t delivered, uint64_t lost) {
    ComponentCount c;
    c.key = key + suffix;
    c.title = name + ": " + title;
    c.raised = raised;
    c.delivered = delivered;
    c.lost = lost;
    c.baseline = baseline_;
    report.components.push_back(c);
    if (!baseline_ && lost != 0 && !loop_.stopped()) {
      report.failures.push_back(absl::StrFormat("%s: %u lost", c.title, lost));
    }
  };
  component("_msi", "MSIs", msi_ledger_.raised(), msi_ledger_.delivered(),
            msi_ledger_.lost());
  component("_lines", "I/O APIC lines", line_ledger_.raised(), line_ledger_.delivered(),
            line_ledger_.lost());
  component("_wakeups", "wakeups", wakes_needed_, wakes_met_,
            lost_wakeups_);
  if (!baseline_) {
    for (const std::string& f : failures_) report.failures.push_back(f);
    for (const std::string& b : broken) report.failures.push_back(name + ": " + b);
  }

  uint64_t level_deliveries = 0, deferred = 0, storm_fires = 0;
  for (int vm = 0; vm < options_.vms; ++vm) {
    storm_fires += vms_[vm].storm_timer->fired();
    for (int l = 0; l < x86::kLinesPerVm; ++l) {
      auto st = vms_[vm].ioapic->Stats(x86::kFirstLinePin + l);
      if (!st.ok()) continue;
      level_deliveries += st->level_deliveries;
      deferred += st->deferred_by_storm_guard;
    }
  }
  Section& w = report.AddSection(key + "_wakeups", name + ": wakeups and handlers");
  w.metrics = {{"wakes", double(wakes_)},
               {"lost_wakeups", double(lost_wakeups_)},
               {"spurious_wakeups", double(spurious_wakeups_)},
               {"redundant_wakes", double(redundant_wakes_)},
               {"wake_p50_us", wake_latency_.PercentileUs(50), false},
               {"wake_p99_us", wake_latency_.PercentileUs(99), false},
               {"wake_max_us", wake_latency_.MaxUs(), false},
               {"wake_bound_us", double(WakeBound()) / cost::kUs, false},
               {"handler_runs", double(ga_log_handler_runs_ + wakeup_handler_runs_)},
               {"handler_us", double(handler_ns_) / cost::kUs, false},
               {"handler_max_us", double(max_handler_ns_) / cost::kUs, false},
               {"vcpus_scanned", double(vcpus_scanned_)},
               {"host_kicks", double(host_kicks_)}};
  if (dropped_wakes_ != 0) w.metrics.push_back({"dropped_wakes_defect", double(dropped_wakes_)});
  posting_->AddFigures(report, key, name, baseline_);
  if (mode_ != X86Mode::kGaLog) {
    Section& g = report.AddSection(key + "_wakeup_irqs", name + ": wakeup-vector interrupts per CPU");
    for (int c = 0; c < options_.pcpus; ++c) {
      g.metrics.push_back({"cpu" + std::to_string(c), double(wakeup_irqs_per_cpu_[c])});
    }
  }
  if (baseline_) return;
  Section& d = report.AddSection(key + "_delivery", name + ": delivery");
  d.metrics = {{"msi_merged", double(msi_ledger_.merged())},
               {"doorbells", double(doorbells_)},
               {"notifications", double(notifications_)},
               {"ga_log_posts", double(ga_log_posts_ + ga_log_drops_)},
               {"quiet_posts", double(quiet_posts_)},
               {"irq_p50_us", msi_ledger_.latency().PercentileUs(50), false},
               {"irq_p99_us", msi_ledger_.latency().PercentileUs(99), false},
               {"irq_max_us", msi_ledger_.latency().MaxUs(), false},
               {"irq_bound_us", double(RaiseBound()) / cost::kUs, false}};
  Section& s = report.AddSection(key + "_scheduler", name + ": scheduler and devices");
  s.metrics = {{"halts", double(halts_)},
               {"halts_aborted", double(halt_aborts_)},
               {"doorbells_outside_guest", double(hlt_window_doorbells_)},
               {"handlers_preempted", double(handlers_preempted_)},
               {"preemptions", double(preemptions_)},
               {"migrations", double(migrations_)},
               {"cpu_offlines", double(offlines_)},
               {"ga_log_cpu_moves", double(ga_log_retargets_)},
               {"storms", double(storms_)},
               {"irqs_off_sections", double(irqs_off_sections_)},
               {"msi_affinity_changes", double(affinity_changes_)},
               {"iommu_commands", double(posting_->CommandsExecuted())}};
  Section& io = report.AddSection(key + "_ioapic", name + ": I/O APIC");
  io.metrics = {{"level_deliveries", double(level_deliveries)},
                {"lines_high_at_eoi", double(lines_high_at_eoi_)},
                {"line_bursts", double(line_bursts_)},
                {"storm_guard_deferrals", double(deferred)},
                {"storm_timer_fires", double(storm_fires)},
                {"eoi_exits", double(eoi_exits_)},
                {"stale_eoi_rescans", double(stale_eoi_rescans_)},
                {"rescans", double(rescans_processed_)},
                {"reroutes", double(reroutes_)},
                {"reroutes_in_flight", double(reroutes_in_flight_)},
                {"mmio_exits", double(mmio_exits_)}};

  // The mechanisms a correct host must exercise for its checks to mean anything.
  const std::string m = Key().substr(1);
  report.Mechanism("x86_" + m + "_hlt_window_aborts", double(halt_aborts_));
  report.Mechanism("x86_" + m + "_lines_high_at_eoi", double(lines_high_at_eoi_));
  report.Mechanism("x86_" + m + "_storm_guard_deferrals", double(deferred));
  report.Mechanism("x86_" + m + "_stale_eoi_rescans", double(stale_eoi_rescans_));
  report.Mechanism("x86_" + m + "_migrations", double(migrations_));
  if (mode_ != X86Mode::kGaLog) {
    report.Mechanism("x86_" + m + "_wakeup_vector_runs", double(wakeup_handler_runs_));
  }
}

}  // namespace host_sim
