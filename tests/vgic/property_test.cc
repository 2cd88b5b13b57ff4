// SPDX-License-Identifier: MIT
// Seeded random sequences of injections, guest acknowledges, EOIs (EOImode 0 and 1), DIRs (on
// the acknowledging vCPU or another), group and priority-mask changes and vCPU exits, with 1..16
// list registers, checked against a reference model of an ideal CPU interface with unlimited
// LRs: every acknowledge is one the architecture allows (the highest-priority interrupt the
// guest can take), nothing is lost or duplicated, every interrupt ends deactivated, the vGIC's
// state equals the model's whenever all vCPUs are out of the guest, and exits stay bounded.
// IRQVIRT_PROPERTY_SEED picks the first seed.
#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/common/seed.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using hw::fake::kSpuriousIntid;

constexpr uint32_t kVcpus = 3;
constexpr uint32_t kSpis = 32;
constexpr uint8_t kPriorityMask = 0xf8;  // the fake's 5 implemented priority bits

struct ModelIrq {
  uint32_t owner;  // SGIs/PPIs: the vCPU; SPIs: the routed vCPU
  uint32_t intid;
  Trigger trigger;
  uint8_t priority;
  uint8_t group;
  bool pending = false;  // edge latch
  bool line = false;     // level input
  bool active = false;
  // A level interrupt whose line dropped while it sat Pending in an LR of its vCPU: the guest
  // may still take it until that vCPU exits (as on hardware; nothing retracts a live LR).
  // Holds the vCPU's exit count at the time, or -1.
  int64_t stale_until_exit = -1;
  bool IsPending() const { return trigger == Trigger::kEdge ? pending : line; }
};

struct ModelVcpu {
  bool split = false;
  bool g0 = true;
  bool g1 = true;
  uint8_t pmr = 0xf8;
  std::vector<uint8_t> running;  // masked priorities of acknowledged, not yet EOIed
  uint8_t RunningPriority() const { return running.empty() ? 0xff : running.back(); }
};

class Sequence {
 public:
  Sequence(uint64_t seed, int num_lrs)
      : rng_(seed),
        seed_(seed),
        h_({.num_vcpus = kVcpus, .num_spis = kSpis, .num_list_registers = num_lrs}) {
    // Every vCPU: 4 SGIs, 2 PPIs (one level); SPIs routed at random, a third level-triggered.
    for (uint32_t v = 0; v < kVcpus; ++v) {
      for (uint32_t intid : {1u, 2u, 3u, 7u}) AddIrq(v, intid, Trigger::kEdge);
      AddIrq(v, 20, Trigger::kEdge);
      AddIrq(v, 23, Trigger::kLevel);
    }
    for (uint32_t s = 0; s < kSpis; ++s) {
      const uint32_t v = Pick(kVcpus);
      AddIrq(v, kFirstSpi + s, s % 3 == 0 ? Trigger::kLevel : Trigger::kEdge);
      EXPECT_TRUE(h_.vgic().RouteSpi(kFirstSpi + s, v).ok());
    }
    for (uint32_t v = 0; v < kVcpus; ++v) {
      vcpus_[v].split = Pick(2) == 1;
      hw::arm::IchVmcr vmcr = hw::arm::IchVmcr::FromRaw(h_.vcpu(v).state.vmcr);
      vmcr.set_veoim(vcpus_[v].split ? 1 : 0);
      h_.vcpu(v).state.vmcr = vmcr.raw();
    }
  }

  void Run(int num_ops) {
    for (uint32_t v = 0; v < kVcpus; ++v) h_.Enter(v);
    for (int op = 0; op < num_ops && !::testing::Test::HasFailure(); ++op) {
      Step();
      h_.DeliverKicks();
      if (op % 16 == 15) Checkpoint();
    }
    Drain();
    Checkpoint();
    for (const ModelIrq& m : irqs_) {
      EXPECT_FALSE(m.active) << Where(m) << " never deactivated";
      EXPECT_FALSE(m.IsPending()) << Where(m) << " never delivered";
    }
    for (uint32_t v = 0; v < kVcpus; ++v) EXPECT_EQ(h_.vgic().ApListLength(v), 0u) << Ctx();
    EXPECT_EQ(h_.vgic().spis_in_flight(), 0u) << Ctx();
    EXPECT_EQ(h_.total_livelocks(), 0u) << Ctx();
    uint64_t service_exits = 0;
    for (uint32_t v = 0; v < kVcpus; ++v) {
      service_exits += h_.vcpu(v).maintenance_exits + h_.vcpu(v).kick_exits;
    }
    EXPECT_LE(service_exits, 4 * (ops_ + acks_) + 16) << Ctx() << "exits per interrupt";
    EXPECT_TRUE(h_.platform().violations().empty()) << Ctx();
  }

 private:
  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  std::string Ctx() const { return absl::StrFormat("seed %u: ", seed_); }
  std::string Where(const ModelIrq& m) const {
    return absl::StrFormat("%sINTID %u (vCPU %u)", Ctx(), m.intid, m.owner);
  }

  void AddIrq(uint32_t v, uint32_t intid, Trigger t) {
    ModelIrq m{v, intid, t, static_cast<uint8_t>(Pick(31) * 8), static_cast<uint8_t>(1)};
    if (intid == 7 || intid == kFirstSpi + 5) m.group = 0;
    irqs_.push_back(m);
    EXPECT_TRUE(h_.vgic()
                    .ConfigureIrq(v, intid,
                                  {.enabled = true, .priority = m.priority, .group = m.group,
                                   .trigger = t})
                    .ok());
  }

  ModelIrq* Find(uint32_t v, uint32_t intid) {
    for (ModelIrq& m : irqs_) {
      if (m.intid == intid && (intid >= kFirstSpi || m.owner == v)) return &m;
    }
    return nullptr;
  }

  void MarkIfStale(ModelIrq& m) {
    const auto s = h_.vgic().Snapshot(m.owner, m.intid);
    if (s.ok() && s->on_lr && !m.active) {
      m.stale_until_exit = static_cast<int64_t>(h_.vcpu(m.owner).exits);
    }
  }

  bool Ackable(const ModelIrq& m, uint32_t v) {
    const ModelVcpu& c = vcpus_[v];
    const uint8_t p = m.priority & kPriorityMask;
    const bool stale = m.stale_until_exit >= 0 &&
                       static_cast<uint64_t>(m.stale_until_exit) == h_.vcpu(v).exits;
    return m.owner == v && (m.IsPending() || stale) && !m.active && (m.group == 0 ? c.g0 : c.g1) &&
           p < c.pmr && p < c.RunningPriority();
  }

  void Acknowledge(uint32_t v, int group) {
    // What the ideal interface allows, decided before the guest acts (its acknowledge may
    // raise a maintenance interrupt and exit, which ends the stale-LR window).
    int best = 0x100;
    int best_in_group = 0x100;
    std::vector<const ModelIrq*> allowed;
    for (const ModelIrq& m : irqs_) {
      if (!Ackable(m, v)) continue;
      allowed.push_back(&m);
      best = std::min(best, m.priority & kPriorityMask);
      if (m.group == group) best_in_group = std::min(best_in_group, m.priority & kPriorityMask);
    }
    const uint32_t got = h_.guest(v).Acknowledge(group);
    if (got == kSpuriousIntid) {
      // Allowed when group `group` has nothing to take, or the other group's interrupt is at
      // least as urgent (it is the highest pending one and belongs to the other IAR).
      EXPECT_TRUE(best_in_group == 0x100 || best <= best_in_group)
          << Ctx() << "vCPU " << v << " group " << group << " got nothing although an interrupt "
          << "of priority " << best_in_group << " was pending (lost)";
      return;
    }
    ModelIrq* m = Find(v, got);
    ASSERT_NE(m, nullptr) << Ctx() << "acknowledged unknown INTID " << got;
    ASSERT_NE(std::find(allowed.begin(), allowed.end(), m), allowed.end())
        << Where(*m) << ": acknowledged while the ideal interface would not deliver it "
        << "(duplicate or wrong vCPU)";
    EXPECT_EQ(m->priority & kPriorityMask, best) << Where(*m) << ": not the highest priority";
    m->active = true;
    m->stale_until_exit = -1;
    if (m->trigger == Trigger::kEdge) m->pending = false;
    vcpus_[v].running.push_back(m->priority & kPriorityMask);
    ++acks_;
  }

  void Step() {
    ++ops_;
    const uint32_t v = Pick(kVcpus);
    ModelVcpu& c = vcpus_[v];
    const bool in_guest = h_.vcpu(v).in_guest;
    switch (Pick(12)) {
      case 0:
      case 1: {  // an edge, or a level line change, from a device
        ModelIrq& m = irqs_[Pick(static_cast<uint32_t>(irqs_.size()))];
        if (m.trigger == Trigger::kEdge) {
          m.pending = true;
          EXPECT_TRUE(h_.vgic().Inject(m.owner, m.intid, true).ok());
        } else {
          m.line = !m.line;
          if (!m.line) MarkIfStale(m);
          EXPECT_TRUE(h_.vgic().Inject(m.owner, m.intid, m.line).ok());
        }
        break;
      }
      case 2:
      case 3:
      case 4:
        if (in_guest) Acknowledge(v, Pick(5) == 0 ? 0 : 1);
        break;
      case 5:
      case 6:
        if (in_guest && !c.running.empty()) {
          const uint32_t intid = h_.guest(v).EoiNewest();
          c.running.pop_back();
          ModelIrq* m = Find(v, intid);
          if (!c.split) m->active = false;
          // A level device is often serviced before the EOI.
          if (m->trigger == Trigger::kLevel && m->line && Pick(2) == 0) {
            m->line = false;
            MarkIfStale(*m);
            EXPECT_TRUE(h_.vgic().Inject(m->owner, m->intid, false).ok());
          }
        }
        break;
      case 7:
        if (in_guest && h_.guest(v).num_waiting_for_dir() > 0) {
          const int i = static_cast<int>(Pick(h_.guest(v).num_waiting_for_dir()));
          Find(v, h_.guest(v).waiting(i))->active = false;
          h_.guest(v).DeactivateWaiting(i);
        }
        break;
      case 8: {  // an SPI EOIed on v, deactivated on another split-mode vCPU
        const uint32_t other = (v + 1 + Pick(kVcpus - 1)) % kVcpus;
        if (!in_guest || !h_.vcpu(other).in_guest || !vcpus_[other].split) break;
        for (int i = 0; i < h_.guest(v).num_waiting_for_dir(); ++i) {
          if (h_.guest(v).waiting(i) < kFirstSpi) continue;
          const uint32_t intid = h_.guest(v).TakeWaiting(i);
          Find(v, intid)->active = false;
          h_.guest(other).Dir(intid);
          break;
        }
        break;
      }
      case 9:
        if (in_guest) {
          c.g0 = !c.g0;
          h_.cpu(v).SetGroupEnable(0, c.g0);
          h_.ServiceExits(v);
        }
        break;
      case 10:
        if (in_guest) {
          static constexpr uint8_t kMasks[] = {0xf8, 0xf8, 0x80, 0x40};
          c.pmr = kMasks[Pick(4)];
          h_.cpu(v).SetPriorityMask(c.pmr);
        }
        break;
      case 11:
        if (in_guest) {
          h_.Exit(v);
          if (c.running.empty() && h_.guest(v).num_waiting_for_dir() == 0 && Pick(3) == 0) {
            c.split = !c.split;  // EOImode changes only between handlers
            hw::arm::IchVmcr vmcr = hw::arm::IchVmcr::FromRaw(h_.vcpu(v).state.vmcr);
            h_.vcpu(v).state.vmcr = vmcr.set_veoim(c.split ? 1 : 0).raw();
          }
        } else {
          h_.Enter(v);
        }
        break;
    }
  }

  // All vCPUs out of the guest: the vGIC's interrupt state is the model's.
  void Checkpoint() {
    std::array<bool, kVcpus> was_in{};
    for (uint32_t v = 0; v < kVcpus; ++v) {
      was_in[v] = h_.vcpu(v).in_guest;
      if (was_in[v]) h_.Exit(v);
    }
    for (const ModelIrq& m : irqs_) {
      const auto s = h_.vgic().Snapshot(m.owner, m.intid);
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(s->active, m.active) << Where(m) << ": active state differs from the model";
      const bool pending = s->pending_latch || (s->trigger == Trigger::kLevel && s->line_level);
      EXPECT_EQ(pending, m.IsPending()) << Where(m) << ": pending state differs from the model";
    }
    for (uint32_t v = 0; v < kVcpus; ++v) {
      if (was_in[v]) h_.Enter(v);
    }
  }

  // The devices go quiet and every guest handles all it can until nothing is left.
  void Drain() {
    for (ModelIrq& m : irqs_) {
      if (m.trigger == Trigger::kLevel && m.line) {
        m.line = false;
        MarkIfStale(m);
        EXPECT_TRUE(h_.vgic().Inject(m.owner, m.intid, false).ok());
      }
    }
    for (uint32_t v = 0; v < kVcpus; ++v) {
      if (!h_.vcpu(v).in_guest) h_.Enter(v);
      vcpus_[v].g0 = true;
      vcpus_[v].pmr = 0xf8;
      h_.cpu(v).SetGroupEnable(0, true);
      h_.cpu(v).SetPriorityMask(0xf8);
      h_.ServiceExits(v);
    }
    for (int pass = 0; pass < 64 && !::testing::Test::HasFailure(); ++pass) {
      bool progress = false;
      for (uint32_t v = 0; v < kVcpus; ++v) {
        for (int group : {1, 0}) {
          const uint64_t before = acks_;
          Acknowledge(v, group);
          progress |= acks_ != before;
        }
        while (!vcpus_[v].running.empty()) {
          const uint32_t intid = h_.guest(v).EoiNewest();
          vcpus_[v].running.pop_back();
          if (!vcpus_[v].split) Find(v, intid)->active = false;
          progress = true;
          ++ops_;
        }
        while (h_.guest(v).num_waiting_for_dir() > 0) {
          Find(v, h_.guest(v).waiting(0))->active = false;
          h_.guest(v).DeactivateWaiting(0);
          progress = true;
          ++ops_;
        }
        h_.DeliverKicks();
      }
      if (!progress) break;
    }
  }

  std::mt19937_64 rng_;
  uint64_t seed_;
  VgicHarness h_;
  std::vector<ModelIrq> irqs_;
  std::array<ModelVcpu, kVcpus> vcpus_{};
  uint64_t ops_ = 0;
  uint64_t acks_ = 0;
};

TEST(VgicProperty, RandomSequencesMatchAnIdealCpuInterface) {
  const uint64_t first = irqvirt::testing::SeedFromEnv("IRQVIRT_PROPERTY_SEED", 1);
  for (uint64_t seed = first; seed < first + 600 && !HasFailure(); ++seed) {
    const int num_lrs = 1 + static_cast<int>(seed % 16);
    Sequence(seed, num_lrs).Run(220);
  }
}

}  // namespace
}  // namespace irqvirt::vgic::testing
