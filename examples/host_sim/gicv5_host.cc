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
constexpr cost::Ns kTick = 100 * cost::kUs;  // each vCPU exits at least this often (its timer)

}  // namespace

Gicv5Host::Gicv5Host(const SimOptions& options, EventLoop& loop)
    : options_(options),
      loop_(loop),
      end_of_traffic_(static_cast<cost::Ns>(options.duration_us) * cost::kUs),
      platform_(options.vcpus, static_cast<uint32_t>(options.vcpus)),
      irs_(/*num_vms=*/2, kNumSpis),
      backend_(irs_),
      vcpus_(options.vcpus) {}

void Gicv5Host::Failure(std::string what) {
  if (failures_.size() < 20) failures_.push_back(std::move(what));
}

bool Gicv5Host::IsLevel(uint32_t id) const { return id >= kFirstLevel; }
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
    if (absl::Status s = vgic_->FlushPpis(v, vcpus_[v].ppis); !s.ok()) Failure("GICv5: FlushPpis");
    NextTick(v, static_cast<cost::Ns>(v) * kTick / static_cast<cost::Ns>(vcpus_.size()));
  }
  auto rng = std::make_shared<std::mt19937_64>(RandomStream(options_.seed, 0x5, 0));
  streams_.push_back(rng);
  NextSpi(*rng, 0);
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
    Failure("GICv5: Fold: " + std::string(s.message()));
  }
  if (absl::Status s = vgic_->FlushPpis(vcpu, v.ppis); !s.ok()) Failure("GICv5: FlushPpis");
  const irqvirt::vgic::VgicV5Stats after = vgic_->stats();
  const cost::Ns spent =
      cost::kVcpuExit + static_cast<cost::Ns>(after.queries - before.queries) * cost::kGicv5Query +
      static_cast<cost::Ns>(after.notifications - before.notifications) * cost::kNotifier;
  fold_ns_ += spent;
  v.busy_until = std::max(v.busy_until, loop_.now()) + spent;
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
  for (std::optional<uint32_t> id; (id = irs_.Acknowledge(kVmId, vpe));) {
    auto first = first_raised_.find(*id);
    if (first != first_raised_.end()) {
      latency_.Add(loop_.now() - first->second);
      first_raised_.erase(first);
    }
    ledger_.Deliver(*id);
    if (IsLevel(*id)) {
      level_devices_[*id].work = 0;  // serviced: the device lowers its line
      if (!vgic_->Inject(*id, false).ok()) Failure("GICv5: Inject");
    }
    if (!irs_.PriorityDrop(kVmId, vpe)) Failure("GICv5: priority drop with nothing active");
    irs_.Deactivate(kVmId, *id);
  }
}

void Gicv5Host::RaiseEdge(uint32_t id) {
  if (!ledger_.Outstanding(id)) first_raised_[id] = loop_.now();
  ledger_.Raise(id);
  if (!vgic_->Inject(id, true).ok()) Failure("GICv5: Inject");
  ScheduleTake(Target(id));
}

void Gicv5Host::LevelWork(uint32_t id) {
  if (!ledger_.Outstanding(id)) first_raised_[id] = loop_.now();
  ledger_.Raise(id);
  LevelDevice& d = level_devices_[id];
  ++d.work;
  if (!d.masked) AssertLine(id);
}

void Gicv5Host::AssertLine(uint32_t id) {
  level_devices_[id].masked = true;
  if (!vgic_->Inject(id, true).ok()) Failure("GICv5: Inject");
  ScheduleTake(Target(id));
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
  loop_.At(t, [this, &rng, t, id] {
    if (IsLevel(id)) {
      LevelWork(id);
    } else {
      RaiseEdge(id);
    }
    NextSpi(rng, t);
  });
}

void Gicv5Host::Finish(Report& report) {
  std::vector<std::string> broken = failures_;
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
      broken.push_back(absl::StrFormat("arm64 GICv5: SPI %u still pending or active", id));
    }
  }
  if (irs_.invalid_operands() != 0) broken.push_back("arm64 GICv5: invalid IRS operands");
  if (irs_.ignored_deactivations() != 0) broken.push_back("arm64 GICv5: ignored deactivations");
  const irqvirt::vgic::VgicV5Stats st = vgic_->stats();
  if (st.query_faults != 0) broken.push_back("arm64 GICv5: faulting VDRCFG queries");
  for (const std::string& v : platform_.violations())
    broken.push_back("arm64 GICv5 platform: " + v);

  ComponentCount c{"arm64_gicv5_spis",  ledger_.component(), ledger_.raised(),
                   ledger_.delivered(), ledger_.lost(),      false};
  report.components.push_back(c);
  if (c.lost != 0) report.failures.push_back(absl::StrFormat("%s: %u lost", c.title, c.lost));
  for (const std::string& b : broken) report.failures.push_back(b);

  Section& s = report.AddSection("arm64_gicv5",
                                 absl::StrFormat("arm64 GICv5 VM (%d vCPUs, IRS)", options_.vcpus));
  s.metrics = {
      {"notifications", double(st.notifications)},
      {"exits", double(exits_)},
      {"fold_passes", double(st.fold_passes)},
      {"vdrcfg_queries", double(st.queries)},
      {"vdpend_writes", double(st.pending_writes)},
      {"line_reasserts", double(st.line_reasserts)},
      {"quiet_still_tracked", double(vgic_->in_flight() - watched)},
      {"fold_us_per_exit", exits_ ? double(fold_ns_) / cost::kUs / double(exits_) : 0, false},
      {"irq_p50_us", latency_.PercentileUs(50), false},
      {"irq_p99_us", latency_.PercentileUs(99), false},
      {"irq_max_us", latency_.MaxUs(), false}};
}

}  // namespace host_sim
