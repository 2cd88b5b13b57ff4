// SPDX-License-Identifier: MIT
#include "examples/host_sim/gicv5_host.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "examples/host_sim/random_streams.h"

namespace host_sim {
namespace {

constexpr uint32_t kNumSpis = 64;            // virtual SPI IDs 0..63
constexpr uint32_t kFirstLevel = 48;         // 48..63 level with notifiers, 0..47 edge
constexpr uint32_t kFirstDiscarding = 56;    // 56..63: the driver discards pending (CDPEND)
constexpr cost::Ns kTick = 100 * cost::kUs;  // each vCPU exits at least this often (its timer)
constexpr cost::Ns kAckSlice = 10;           // the trace: an acknowledge's slice
constexpr cost::Ns kWatchdogPeriod = 25 * cost::kUs;

}  // namespace

Gicv5Host::Gicv5Host(const SimOptions& options, EventLoop& loop, Trace& trace)
    : options_(options),
      loop_(loop),
      trace_(trace),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      platform_(options.vcpus, static_cast<uint32_t>(options.vcpus)),
      irs_(/*num_vms=*/2, kNumSpis),
      backend_(irs_),
      vcpus_(options.vcpus) {}

void Gicv5Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back("arm64 GICv5: " + std::move(what));
  if (options_.stop_at_first_failure) loop_.Stop();
}

bool Gicv5Host::IsLevel(uint32_t id) const { return id >= kFirstLevel; }
bool Gicv5Host::DiscardsPending(uint32_t id) const { return id >= kFirstDiscarding; }
uint16_t Gicv5Host::Target(uint32_t id) const {
  return static_cast<uint16_t>(id % static_cast<uint32_t>(options_.vcpus));
}

absl::Status Gicv5Host::Init() {
  irqvirt::vgic::VgicV5Options o;
  o.num_vcpus = static_cast<uint32_t>(options_.vcpus);
  o.num_spis = kNumSpis;
  o.vm_id = kVmId;
  o.irs = &backend_;
  auto vgic = VgicV5::Create(platform_, o);
  if (!vgic.ok()) return vgic.status();
  vgic_ = std::move(*vgic);
  pid_ = trace_.Process("arm64_gicv5", "arm64 GICv5 VM");
  for (int v = 0; v < options_.vcpus; ++v) {
    vcpus_[v].host_track = trace_.Track(pid_, 1 + v, absl::StrFormat("pCPU %d", v), 0);
    vcpus_[v].irq_track = trace_.Track(pid_, 101 + 2 * v, absl::StrFormat("vPE %d guest IRQs", v), 0);
  }
  irs_track_ = trace_.Track(pid_, 50, "IRS", 0);
  device_track_ = trace_.Track(pid_, 1000, "SPI devices", 0);
  for (uint32_t id = 0; id < kNumSpis; ++id) {
    // The guest's side (GIC CDEN / CDPRI / CDHM / CDAFF), then the host's trigger.
    irs_.GuestSetEnabled(kVmId, id, true);
    irs_.GuestSetPriority(kVmId, id, static_cast<uint8_t>(id % 16));
    irs_.GuestSetHandlingMode(kVmId, id, IsLevel(id));
    irs_.GuestSetTarget(kVmId, id, Target(id));
    const auto trigger =
        IsLevel(id) ? irqvirt::vgic::Trigger::kLevel : irqvirt::vgic::Trigger::kEdge;
    if (absl::Status s = vgic_->ConfigureSpi(id, trigger); !s.ok()) return s;
    if (IsLevel(id)) {
      if (absl::Status s = vgic_->SetDeactivationNotifier(id, &Gicv5Host::OnDeactivated, this);
          !s.ok()) {
        return s;
      }
      level_devices_[id] = {};
    }
  }
  return absl::OkStatus();
}

void Gicv5Host::Start() {
  for (uint32_t v = 0; v < vcpus_.size(); ++v) {
    platform_.SetCurrentCpu(static_cast<int>(v));
    if (absl::Status s = vgic_->FlushPpis(v, vcpus_[v].ppis); !s.ok()) Failure("FlushPpis");
    NextTick(v, static_cast<cost::Ns>(v) * kTick / static_cast<cost::Ns>(vcpus_.size()));
  }
  auto rng = std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0x5, 0));
  streams_.push_back(rng);
  NextSpi(*rng, 0);
  loop_.After(kWatchdogPeriod, [this] { Watchdog(); });
}

// A vCPU exit (its timer tick): fold, then re-enter. Folds go on after the traffic stops, so
// the last deactivations are noticed too.
void Gicv5Host::NextTick(uint32_t vcpu, cost::Ns t) {
  t += kTick;
  if (t > end_of_traffic_ + 20 * kTick) return;
  loop_.At(t, [this, vcpu, t] {
    VcpuExit(vcpu);
    NextTick(vcpu, t);
  });
}

void Gicv5Host::VcpuExit(uint32_t vcpu) {
  Vcpu& v = vcpus_[vcpu];
  platform_.SetCurrentCpu(static_cast<int>(vcpu));
  const irqvirt::vgic::VgicV5Stats before = vgic_->stats();
  ++exits_;
  if (absl::Status s = vgic_->Fold(vcpu, v.ppis); !s.ok()) {
    Failure("Fold: " + std::string(s.message()));
  }
  if (absl::Status s = vgic_->FlushPpis(vcpu, v.ppis); !s.ok()) Failure("FlushPpis");
  const irqvirt::vgic::VgicV5Stats after = vgic_->stats();
  const cost::Ns spent =
      cost::kVcpuExit + static_cast<cost::Ns>(after.queries - before.queries) * cost::kGicv5Query +
      static_cast<cost::Ns>(after.notifications - before.notifications) * cost::kNotifier;
  fold_ns_ += spent;
  const cost::Ns start = std::max(v.busy_until, loop_.now());
  v.busy_until = start + spent;
  if (trace_.enabled()) {
    trace_.Slice(v.host_track, start, start + spent,
                 after.line_reasserts != before.line_reasserts
                     ? absl::StrFormat("exit: fold, %u queries, %u re-pended",
                                       after.queries - before.queries,
                                       after.line_reasserts - before.line_reasserts)
                     : absl::StrFormat("exit: fold, %u queries", after.queries - before.queries),
                 TraceCat::kHost);
  }
  // A level SPI the fold made pending again is signalled by the IRS to its vPE.
  if (after.line_reasserts != before.line_reasserts) {
    for (uint16_t vpe = 0; vpe < vcpus_.size(); ++vpe) ScheduleTake(vpe);
  }
}

// The IRS signals the vPE directly: the guest takes the interrupt without an exit.
void Gicv5Host::ScheduleTake(uint16_t vpe) {
  Vcpu& v = vcpus_[vpe];
  if (v.take_scheduled) return;
  v.take_scheduled = true;
  loop_.At(std::max(loop_.now() + cost::kGuestAckLatency, v.busy_until),
           [this, vpe] { GuestTake(vpe); });
}

void Gicv5Host::GuestTake(uint16_t vpe) {
  vcpus_[vpe].take_scheduled = false;
  const int track = vcpus_[vpe].irq_track;
  for (std::optional<uint32_t> id; (id = irs_.Acknowledge(kVmId, vpe));) {
    const cost::Ns now = loop_.now();
    cost::Ns at = now;
    if (trace_.enabled()) {
      const uint32_t spi = *id;
      at = trace_.SerialSlice(
          track, now, kAckSlice,
          irq_names_.Get(trace_, spi, [&] { return absl::StrFormat("IRQ SPI %u", spi); }),
          TraceCat::kGuestIrq);
    }
    const auto end_flow = [&](const InterruptLedger::Raise& r) { trace_.FlowEnd(r.flow, track, at); };
    stories_.Add(*id, now, "vPE %lld acknowledges it", vpe);
    if (!IsLevel(*id)) {
      ledger_.DeliverObligation(*id, now, end_flow);
    } else {
      LevelDevice& d = level_devices_[*id];
      if (DiscardsPending(*id)) {
        // This driver discards the SPI's pending state (GIC CDPEND) before it services the
        // device, one work item at a time: with more left the line stays high, and only the
        // hypervisor's next fold can make the SPI pending again.
        irs_.GuestSetPending(kVmId, *id, false);
        ++guest_discards_;
        ledger_.DeliverRaises(*id, 1, now, end_flow);
        d.work -= std::min<uint64_t>(d.work, 1);
        if (d.work > 0) {
          ++discarded_with_line_high_;
          stories_.Add(*id, now, "the guest discards its pending state, %lld items left (line "
                                 "high)",
                       static_cast<long long>(d.work));
        } else {
          SetLine(*id, false);
        }
      } else {
        ledger_.DeliverRaises(*id, d.work, now, end_flow);
        d.work = 0;  // serviced: the device lowers its line
        SetLine(*id, false);
      }
    }
    if (!irs_.PriorityDrop(kVmId, vpe)) Failure("priority drop with nothing active");
    irs_.Deactivate(kVmId, *id);
  }
}

void Gicv5Host::RaiseEdge(uint32_t id) {
  const cost::Ns now = loop_.now();
  const bool held = irs_.State(kVmId, id).pending;
  const uint64_t flow = trace_.Raise(
      device_track_, now, spi_names_.Get(trace_, id, [&] { return absl::StrFormat("SPI %u", id); }));
  ledger_.Add(id, held, now, flow);
  stories_.Add(id, now, "edge raised (IRS pending already: %lld)", held ? 1 : 0);
  const uint64_t writes = vgic_->stats().pending_writes;
  if (!vgic_->Inject(id, true).ok()) Failure("Inject");
  if (trace_.enabled() && vgic_->stats().pending_writes != writes) {
    const cost::Ns at = trace_.SerialSlice(
        irs_track_, now, cost::kPostLatency, vdpend_names_.Get(trace_, id, [&] {
          return absl::StrFormat("VDPEND SPI %u -> vPE %u", id, Target(id));
        }),
        TraceCat::kIommu);
    trace_.FlowStep(flow, irs_track_, at);
  }
  if (!irs_.State(kVmId, id).pending) {
    Failure(absl::StrFormat("SPI %u: an edge was injected but the IRS does not hold it pending",
                            id) +
            Story(id));
  }
  ScheduleTake(Target(id));
}

void Gicv5Host::LevelWork(uint32_t id, uint64_t items) {
  LevelDevice& d = level_devices_[id];
  for (uint64_t i = 0; i < items; ++i) {
    const uint64_t flow = trace_.Raise(
        device_track_, loop_.now(),
        work_names_.Get(trace_, id, [&] { return absl::StrFormat("SPI %u work", id); }));
    ledger_.Add(id, d.line, loop_.now(), flow);  // a high line is the pending state
  }
  d.work += items;
  stories_.Add(id, loop_.now(), "device gets %lld items (line high: %lld)",
               static_cast<long long>(items), d.line ? 1 : 0);
  if (!d.masked) AssertLine(id);
}

void Gicv5Host::AssertLine(uint32_t id) {
  level_devices_[id].masked = true;
  SetLine(id, true);
  ScheduleTake(Target(id));
}

void Gicv5Host::SetLine(uint32_t id, bool level) {
  LevelDevice& d = level_devices_[id];
  if (d.line == level) return;
  d.line = level;
  stories_.Add(id, loop_.now(), "the device sets its line to %lld", level ? 1 : 0);
  if (!vgic_->Inject(id, level).ok()) Failure("Inject");
}

// Called by a fold on the folding vCPU once a level SPI is neither pending nor active and its
// line is low: unmask the device, re-assert if it has more work (from the host's context).
void Gicv5Host::OnDeactivated(void* context, uint32_t id) {
  auto* host = static_cast<Gicv5Host*>(context);
  ++host->notifications_;
  host->loop_.After(0, [host, id] {
    LevelDevice& d = host->level_devices_[id];
    d.masked = false;
    if (d.work > 0) host->AssertLine(id);
  });
}

void Gicv5Host::NextSpi(std::mt19937_64& rng, cost::Ns t) {
  t += Exponential(rng, options_.v5_spi_rate);
  if (t >= end_of_traffic_) return;
  const uint32_t id = static_cast<uint32_t>(rng() % kNumSpis);
  const uint64_t items = 1 + rng() % 3;
  loop_.At(t, [this, &rng, t, id, items] {
    if (IsLevel(id)) {
      LevelWork(id, DiscardsPending(id) ? items : 1);
    } else {
      RaiseEdge(id);
    }
    NextSpi(rng, t);
  });
}

// The longest an SPI may wait on this VM: a discarded level SPI waits for the next fold (a tick,
// and the vCPU's exit may itself wait for earlier host work), then for the items ahead of it.
cost::Ns Gicv5Host::RaiseBound() const {
  return 3 * (kTick + cost::kVcpuExit + kNumSpis * (cost::kGicv5Query + cost::kNotifier));
}

std::string Gicv5Host::Story(uint32_t id) const {
  return stories_.Tell(id, absl::StrFormat("SPI %u (vPE %u)", id, Target(id)));
}

void Gicv5Host::Watchdog() {
  const cost::Ns now = loop_.now();
  if (auto lost = ledger_.FirstUnheld([&](uint64_t id) {
        return IsLevel(static_cast<uint32_t>(id)) ||
               irs_.State(kVmId, static_cast<uint32_t>(id)).pending;
      })) {
    Failure(absl::StrFormat("SPI %u: edges raised since %.3f us are owed, but the IRS holds it "
                            "pending no more: lost",
                            *lost, static_cast<double>(*ledger_.OldestOf(*lost)) / cost::kUs) +
            Story(static_cast<uint32_t>(*lost)));
  }
  if (auto late = ledger_.Overdue(now, RaiseBound(), [](uint64_t id) {
        return absl::StrFormat("SPI %u", id);
      })) {
    Failure(late->second + Story(static_cast<uint32_t>(late->first)));
  }
  if (now < end_of_traffic_ + 20 * kTick) loop_.After(kWatchdogPeriod, [this] { Watchdog(); });
}

void Gicv5Host::Finish(Report& report) {
  std::vector<std::string> broken = failures_;
  if (!loop_.stopped()) {
    // SPIs with a notifier must all have been noticed; quiet ones (edge, no notifier) leave the
    // tracking lazily, one probe every few exits, and may still be listed: that costs nothing.
    const uint32_t watched = vgic_->watched_in_flight();
    if (watched != 0) {
      broken.push_back(
          absl::StrFormat("arm64 GICv5: %u SPIs with notifiers never notified", watched));
    }
    for (uint32_t id = 0; id < kNumSpis; ++id) {
      const auto s = irs_.State(kVmId, id);
      if (s.pending || s.active) {
        broken.push_back(absl::StrFormat("arm64 GICv5: SPI %u still pending or active", id) +
                         Story(id));
      }
    }
    if (irs_.invalid_operands() != 0) broken.push_back("arm64 GICv5: invalid IRS operands");
    if (irs_.ignored_deactivations() != 0) broken.push_back("arm64 GICv5: ignored deactivations");
    if (vgic_->stats().query_faults != 0) broken.push_back("arm64 GICv5: faulting VDRCFG queries");
    for (const std::string& v : platform_.violations()) {
      broken.push_back("arm64 GICv5 platform: " + v);
    }
    const cost::Ns now = loop_.now();
    int told = 0;
    ledger_.ForEachOutstanding([&](uint64_t id, const std::vector<InterruptLedger::Raise>& r) {
      const int track = vcpus_[Target(static_cast<uint32_t>(id))].irq_track;
      trace_.Slice(track, now + 10, now + 12, "never delivered", TraceCat::kLost);
      for (const InterruptLedger::Raise& raise : r) trace_.FlowEnd(raise.flow, track, now + 10);
      if (told++ < 3) {
        broken.push_back(absl::StrFormat("arm64 GICv5: SPI %u: %u raises since %.3f us were never "
                                         "delivered",
                                         id, r.size(), static_cast<double>(r.front().at) / 1000) +
                         Story(static_cast<uint32_t>(id)));
      }
    });
  }

  ComponentCount c{"arm64_gicv5_spis",  ledger_.component(), ledger_.raised(),
                   ledger_.delivered(), ledger_.lost(),      false};
  report.components.push_back(c);
  if (c.lost != 0 && !loop_.stopped()) {
    report.failures.push_back(absl::StrFormat("%s: %u lost", c.title, c.lost));
  }
  for (const std::string& b : broken) report.failures.push_back(b);

  const irqvirt::vgic::VgicV5Stats st = vgic_->stats();
  const uint32_t watched = vgic_->watched_in_flight();
  Section& s = report.AddSection("arm64_gicv5",
                                 absl::StrFormat("arm64 GICv5 VM (%d vCPUs, IRS)", options_.vcpus));
  s.metrics = {
      {"notifications", double(st.notifications)},
      {"exits", double(exits_)},
      {"fold_passes", double(st.fold_passes)},
      {"vdrcfg_queries", double(st.queries)},
      {"vdpend_writes", double(st.pending_writes)},
      {"guest_discards", double(guest_discards_)},
      {"discarded_with_line_high", double(discarded_with_line_high_)},
      {"line_reasserts", double(st.line_reasserts)},
      {"quiet_still_tracked", double(vgic_->in_flight() - watched)},
      {"fold_us_per_exit", exits_ ? double(fold_ns_) / cost::kUs / double(exits_) : 0, false},
      {"irq_p50_us", ledger_.latency().PercentileUs(50), false},
      {"irq_p99_us", ledger_.latency().PercentileUs(99), false},
      {"irq_max_us", ledger_.latency().MaxUs(), false},
      {"irq_bound_us", double(RaiseBound()) / cost::kUs, false}};
  report.Mechanism("arm64_gicv5_level_repends", double(st.line_reasserts));
  report.Mechanism("arm64_gicv5_notifications", double(st.notifications));
}

}  // namespace host_sim
