// SPDX-License-Identifier: MIT
// Seeded random sequences for the GICv5 vGIC core (irqvirt/vgic/vgic_v5.h) on the fake IRS,
// checked against a reference model of deactivation notifications. A VM of 3 vCPUs and 48 SPIs
// (a random mix of edge and level, random priorities and targets): devices inject (edges; level
// lines up and down), the guest acknowledges, priority-drops and deactivates on its three vPEs
// (EOImode-1 style: drop first, deactivate later, possibly after the SPI moved on or from
// another vPE; sometimes deactivate before the drop; sometimes all three at once), the guest
// disables / retargets SPIs or sets a level SPI's handling mode to edge (the hypervisor must
// then re-assert the line), the hypervisor reconfigures idle SPIs, notifiers come and go (also
// while their SPI is in flight), a notifier sometimes re-raises its own device (a resampler
// that finds it still asserting), and vCPUs exit (Fold or FoldSpis, any vCPU).
//
// The model: owed[x] is set when an injection makes SPI x pending while x has a notifier, or
// when a notifier is set on x while the core reports it in flight; it is cleared when x's
// notification arrives or its notifier is removed. Checked:
//   * No duplicate or spurious notification: a notifier runs only inside a fold, on the folding
//     CPU, with interrupts on and no vGIC lock held, with its own context, for an SPI that is
//     owed, no longer tracked, and neither pending nor active in the IRS with its line low.
//   * None lost: after every fold, no SPI with a notifier is owed while the IRS shows it
//     neither pending nor active and its line is low.
//   * Structure (after every fold and every 4th step): kWatched iff notifier and in flight;
//     in_flight() and watched_in_flight() count the snapshots; a high line or IRS pending /
//     active implies in flight; owed iff notifier and in flight; the core's line is the
//     device's; an untracked SPI has no stale latch or Active.
//   * After every fold: a watched SPI's active state (and an edge SPI's latch) is the IRS's, and
//     a watched level SPI whose line is high is pending in the IRS (re-asserted if lost); with a
//     watched SPI in flight the exit ran one pass that queried every watched SPI plus at most
//     kQuietProbesPerPass quiet ones; with nothing in flight, no pass and no query.
//   * Injections reach the IRS at once: after an edge or a line going high the IRS shows the
//     SPI pending, after a line going low it does not.
//   * Round robin: a quiet SPI left idle leaves tracking within one sweep of quiet probes (one
//     per quiet SPI, plus the pops of others), plus a sweep per notifier set on another quiet SPI
//     meanwhile.
//   * At the end the devices go quiet and the guest finishes everything but one quiet holdout it
//     keeps pending (disabled): every other SPI leaves tracking (the probe gets past the
//     holdout); then the holdout is taken too and everything leaves (each quiet probe pops one),
//     nothing is owed, and the notification count is the model's.
// IRQVIRT_V5_PROPERTY_SEED picks the first seed; a failure prints the seed to rerun with.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/common/seed.h"
#include "tests/vgic_v5/vgic_v5_harness.h"

namespace irqvirt::vgic::testing {
namespace {

constexpr uint32_t kVcpus = 3;
constexpr uint32_t kSpis = 48;
constexpr int kSeeds = 200;
constexpr int kStepsPerSeed = 2500;

enum class Op : uint8_t {
  kEdge,
  kLine,
  kAcknowledge,
  kPriorityDrop,
  kDeactivate,
  kDeactivateBeforeDrop,
  kHandleOne,
  kDeviceServiced,
  kSetNotifier,
  kRemoveNotifier,
  kFold,
  kFoldSpis,
  kGuestEnable,
  kGuestTarget,
  kGuestHandlingMode,
  kConfigureSpi,
  kReraiseInNotifier,
  kNotified,
  kDrain,
};

const char* OpName(Op op) {
  switch (op) {
    case Op::kEdge:
      return "edge";
    case Op::kLine:
      return "line";
    case Op::kAcknowledge:
      return "acknowledge on vPE";
    case Op::kPriorityDrop:
      return "priority drop on vPE";
    case Op::kDeactivate:
      return "deactivate";
    case Op::kDeactivateBeforeDrop:
      return "deactivate before drop";
    case Op::kHandleOne:
      return "ack+drop+deactivate on vPE";
    case Op::kDeviceServiced:
      return "device serviced, line low";
    case Op::kSetNotifier:
      return "set notifier";
    case Op::kRemoveNotifier:
      return "remove notifier";
    case Op::kFold:
      return "Fold by vCPU";
    case Op::kFoldSpis:
      return "FoldSpis by vCPU";
    case Op::kGuestEnable:
      return "guest enable";
    case Op::kGuestTarget:
      return "guest target";
    case Op::kGuestHandlingMode:
      return "guest handling mode level";
    case Op::kConfigureSpi:
      return "ConfigureSpi level";
    case Op::kReraiseInNotifier:
      return "notifier re-raises";
    case Op::kNotified:
      return "notified";
    case Op::kDrain:
      return "drain";
  }
  return "?";
}

const char* Tracked(InFlight f) {
  switch (f) {
    case InFlight::kNo:
      return "kNo";
    case InFlight::kWatched:
      return "kWatched";
    case InFlight::kQuiet:
      return "kQuiet";
  }
  return "?";
}

struct ModelSpi {
  Trigger trigger = Trigger::kEdge;
  uint8_t priority = 0;
  uint16_t target = 0;
  bool line = false;  // level: the device's line
  bool has_notifier = false;
  int slot = 0;  // which of the two registrations is the live one
  bool owed = false;
  bool guest_enabled = true;
  bool guest_level = false;  // the guest's handling mode (normally the trigger)
  bool LineHigh() const { return trigger == Trigger::kLevel && line; }
};

// An SPI the guest acknowledged on a vPE and has not priority-dropped yet.
struct Taken {
  uint32_t id;
  uint8_t priority;
  bool deactivated;  // deactivated before the drop
};

class Sequence;

// A notifier's context: one of two per SPI, used alternately, each with its own function, so a
// call through a removed registration or with a mismatched function/context pair is caught.
struct Registration {
  Sequence* seq = nullptr;
  uint32_t id = 0;
  int slot = 0;
  bool live = false;
};

class Sequence {
 public:
  explicit Sequence(uint64_t seed)
      : rng_(seed), seed_(seed), h_({.num_vcpus = kVcpus, .num_spis = kSpis}) {
    const uint32_t level_share = 2 + Pick(5);  // 2..6 of 8 SPIs level-triggered
    for (uint32_t x = 0; x < kSpis; ++x) {
      ModelSpi& m = spis_[x];
      m.trigger = Pick(8) < level_share ? Trigger::kLevel : Trigger::kEdge;
      m.priority = static_cast<uint8_t>(Pick(32));
      m.target = static_cast<uint16_t>(Pick(kVcpus));
      m.guest_level = m.trigger == Trigger::kLevel;
      h_.GuestSetUp(x, m.trigger, m.priority, m.target);
      for (int s = 0; s < 2; ++s) regs_[x][s] = Registration{this, x, s, false};
      if (Pick(2) == 0) SetNotifier(x);
    }
  }

  void Run(int num_steps) {
    for (step_ = 0; step_ < num_steps && !::testing::Test::HasFailure(); ++step_) {
      Step();
      // Folds check everything themselves; in between, the structure every few steps.
      if (step_ % 4 == 3 && !::testing::Test::HasFailure()) CheckStructure(/*after_fold=*/false);
    }
    if (::testing::Test::HasFailure()) return;
    Drain();
  }

 private:
  // ------------------------------------------------------------------ helpers

  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  void Note(Op op, int64_t a = -1, int64_t b = -1) {
    history_[history_next_++ % history_.size()] = Event{step_, op, a, b};
  }

  // The seed, the step and the last operations (formatted only when a check fails).
  std::string Ctx() const {
    std::string s =
        absl::StrFormat("seed %u %s (rerun: IRQVIRT_V5_PROPERTY_SEED=%u); last ops:", seed_,
                        step_ >= 0 ? absl::StrFormat("step %d", step_) : "drain", seed_);
    const size_t n = std::min<size_t>(history_next_, history_.size());
    for (size_t i = history_next_ - n; i < history_next_; ++i) {
      const Event& e = history_[i % history_.size()];
      s += e.step >= 0 ? absl::StrFormat(" [%d %s", e.step, OpName(e.op))
                       : absl::StrFormat(" [drain %s", OpName(e.op));
      if (e.a >= 0) s += absl::StrFormat(" %d", e.a);
      if (e.b >= 0) s += absl::StrFormat(" (%d)", e.b);
      s += "]";
    }
    return s + "\n  ";
  }
  std::string Spi(uint32_t x) const {
    const ModelSpi& m = spis_[x];
    return absl::StrFormat("%sSPI %u (%s, prio %u, vPE %u, line %d, notifier %d, owed %d)", Ctx(),
                           x, m.trigger == Trigger::kLevel ? "level" : "edge", m.priority, m.target,
                           m.line, m.has_notifier, m.owed);
  }

  hw::fake::FakeGicv5Irs::SpiState Hw(uint32_t x) { return h_.irs().State(h_.vm(), x); }

  void SetNotifier(uint32_t x) {
    ModelSpi& m = spis_[x];
    if (h_.Snapshot(x).in_flight == InFlight::kQuiet) ++quiet_moves_;
    m.slot ^= 1;
    Registration& r = regs_[x][m.slot];
    r.live = true;
    const DeactivationNotifier fn = m.slot == 0 ? &Notify<0> : &Notify<1>;
    const absl::Status st = h_.vgic().SetDeactivationNotifier(x, fn, &r);
    ASSERT_TRUE(st.ok()) << Spi(x) << st;
    m.has_notifier = true;
    // Set while in flight: the notification of this episode is owed to it.
    m.owed = h_.Snapshot(x).in_flight != InFlight::kNo;
  }

  void RemoveNotifier(uint32_t x) {
    ModelSpi& m = spis_[x];
    Note(Op::kRemoveNotifier, x, static_cast<int>(h_.Snapshot(x).in_flight));
    const absl::Status st = h_.vgic().RemoveDeactivationNotifier(x);
    ASSERT_TRUE(st.ok()) << Spi(x) << st;
    regs_[x][m.slot].live = false;
    m.has_notifier = false;
    m.owed = false;
  }

  // The device's side: an edge, or the line (for a level SPI).
  void Drive(uint32_t x, bool level) {
    ModelSpi& m = spis_[x];
    const bool line_changes = m.trigger == Trigger::kLevel && m.line != level;
    quiet_idle_probes_[x] = 0;
    if (m.trigger == Trigger::kLevel) m.line = level;
    if (level && m.has_notifier) m.owed = true;
    const absl::Status st = h_.vgic().Inject(x, level);
    ASSERT_TRUE(st.ok()) << Spi(x) << st;
    // VDPEND at once: an edge or a line going high is pending in the IRS (even if the guest took
    // the previous edge since the last fold); a line going low is not. (A line that stays high
    // while a guest in edge handling mode took it is re-asserted by the next fold instead.)
    if ((level && m.trigger == Trigger::kEdge) || line_changes) {
      EXPECT_EQ(Hw(x).pending, level) << Spi(x) << ": the IRS's Pending after the injection";
    }
  }

  uint32_t ModelApr(uint32_t vpe) const {
    uint32_t apr = 0;
    for (const Taken& t : taken_[vpe]) apr |= uint32_t{1} << t.priority;
    return apr;
  }

  // ------------------------------------------------------------------ guest operations

  void Acknowledge(uint32_t vpe) {
    const std::optional<uint32_t> id = h_.Acknowledge(static_cast<uint16_t>(vpe));
    Note(Op::kAcknowledge, vpe, id ? static_cast<int64_t>(*id) : -1);
    if (!id) return;
    ASSERT_LT(*id, kSpis) << Ctx();
    const ModelSpi& m = spis_[*id];
    ASSERT_EQ(static_cast<uint32_t>(m.target), vpe)
        << Spi(*id) << ": the IRS delivered it to another vPE";
    taken_[vpe].push_back(Taken{*id, m.priority, false});
    quiet_idle_probes_[*id] = 0;
    ASSERT_EQ(h_.irs().ActivePriorities(h_.vm(), static_cast<uint16_t>(vpe)), ModelApr(vpe))
        << Ctx() << "the test's model of vPE " << vpe << "'s active priorities is off";
  }

  // Drops vPE `vpe`'s highest active priority; returns the SPI if it still needs deactivating.
  std::optional<uint32_t> PriorityDrop(uint32_t vpe) {
    std::vector<Taken>& t = taken_[vpe];
    if (t.empty()) return std::nullopt;
    auto it = std::min_element(
        t.begin(), t.end(), [](const Taken& a, const Taken& b) { return a.priority < b.priority; });
    const Taken done = *it;
    t.erase(it);
    Note(Op::kPriorityDrop, vpe, done.id);
    EXPECT_TRUE(h_.irs().PriorityDrop(h_.vm(), static_cast<uint16_t>(vpe))) << Ctx();
    EXPECT_EQ(h_.irs().ActivePriorities(h_.vm(), static_cast<uint16_t>(vpe)), ModelApr(vpe))
        << Ctx() << "the test's model of vPE " << vpe << "'s active priorities is off";
    if (done.deactivated) return std::nullopt;
    return done.id;
  }

  void Deactivate(uint32_t id, Op how) {
    Note(how, id);
    ASSERT_TRUE(Hw(id).active) << Spi(id) << ": the test deactivates an SPI that is not active";
    h_.Deactivate(id);
    quiet_idle_probes_[id] = 0;
  }

  // ------------------------------------------------------------------ exits

  void Fold(uint32_t vcpu, bool whole_fold) {
    Note(whole_fold ? Op::kFold : Op::kFoldSpis, vcpu);
    TestVgicV5& v = h_.vgic();
    const uint32_t in_flight = v.in_flight();
    const uint32_t watched = v.watched_in_flight();
    const uint32_t quiet = in_flight - watched;
    const uint64_t queries = h_.irs().vdrcfg_count();
    const uint64_t passes = v.stats().fold_passes;
    const uint64_t pops = v.stats().deactivations;
    const uint64_t notified = v.stats().notifications;
    in_fold_ = true;
    fold_cpu_ = static_cast<int>(vcpu);
    if (whole_fold) {
      h_.Exit(vcpu);
    } else {
      h_.platform().SetCurrentCpu(static_cast<int>(vcpu));
      const absl::Status st = v.FoldSpis(vcpu);
      EXPECT_TRUE(st.ok()) << Ctx() << st;
    }
    in_fold_ = false;
    if (::testing::Test::HasFailure()) return;
    const uint64_t ran = v.stats().fold_passes - passes;
    const uint64_t asked = h_.irs().vdrcfg_count() - queries;
    last_quiet_probes_ = 0;
    last_quiet_before_ = quiet;
    // Every watched SPI has a notifier, so the pops beyond the notifications are quiet ones.
    last_quiet_pops_ = (v.stats().deactivations - pops) - (v.stats().notifications - notified);
    if (in_flight == 0) {
      EXPECT_EQ(asked, 0u) << Ctx() << "a query with nothing in flight";
      EXPECT_EQ(ran, 0u) << Ctx() << "a pass with nothing in flight";
    } else if (watched > 0) {
      // Someone waits on a watched SPI: this exit's pass queries each of them (the quiet ones
      // get at most kQuietProbesPerPass probes, when the core chooses to probe them).
      EXPECT_EQ(ran, 1u) << Ctx() << "an exit with " << watched << " watched SPIs in flight";
      EXPECT_GE(asked, watched) << Ctx() << "a pass skipped a watched SPI";
      EXPECT_LE(asked, watched + std::min<uint64_t>(quiet, TestVgicV5::kQuietProbesPerPass))
          << Ctx() << "a pass queries the " << watched << " watched SPIs and at most "
          << "kQuietProbesPerPass of the " << quiet << " quiet ones";
      last_quiet_probes_ = asked - watched;
    } else {
      // Only quiet SPIs: nobody waits; the core may ration passes.
      EXPECT_LE(ran, 1u) << Ctx() << "one exit, at most one pass";
      EXPECT_LE(asked, ran * std::min<uint64_t>(quiet, TestVgicV5::kQuietProbesPerPass))
          << Ctx() << "quiet probes of " << quiet << " quiet SPIs in " << ran << " passes";
      last_quiet_probes_ = asked;
    }
    quiet_probes_ += last_quiet_probes_;
    CheckStructure(/*after_fold=*/true);
  }

  // ------------------------------------------------------------------ the notifier

  template <int kSlot>
  static void Notify(void* context, uint32_t id) {
    auto* r = static_cast<Registration*>(context);
    r->seq->OnNotify(*r, kSlot, id);
  }

  void OnNotify(const Registration& r, int fn_slot, uint32_t id) {
    ++notifications_;
    Note(Op::kNotified, id);
    if (!in_fold_) ADD_FAILURE() << Ctx() << "SPI " << id << " notified outside a fold";
    if (id >= kSpis || r.id != id || r.slot != fn_slot) {
      ADD_FAILURE() << Ctx() << "notifier called for SPI " << id << " with the context of SPI "
                    << r.id << " (registration " << r.slot << ", function " << fn_slot << ")";
      return;
    }
    ModelSpi& m = spis_[id];
    EXPECT_TRUE(r.live) << Spi(id) << ": a removed (or replaced) notifier was called";
    const int cpu = h_.platform().current_cpu();
    EXPECT_EQ(cpu, fold_cpu_) << Spi(id) << ": notified on another CPU than the folding one";
    EXPECT_FALSE(h_.platform().irqs_disabled(cpu))
        << Spi(id) << ": notifier ran with interrupts off (under an IRQ-safe lock)";
    // Take the list lock and the SPI's lock: the logical platform records a violation if the
    // core still holds either.
    (void)h_.vgic().watched_in_flight();
    const SpiSnapshotV5 snap = h_.Snapshot(id);
    EXPECT_TRUE(h_.platform().violations().empty())
        << Spi(id) << ": notifier ran under a vGIC lock: " << h_.platform().violations()[0];
    EXPECT_EQ(snap.in_flight, InFlight::kNo) << Spi(id) << ": notified while still tracked";
    EXPECT_TRUE(m.owed) << Spi(id) << ": duplicate or spurious notification (nothing owed)";
    const auto hw = Hw(id);
    EXPECT_TRUE(!hw.pending && !hw.active && !m.LineHigh())
        << Spi(id) << ": notified while not idle (IRS pending " << hw.pending << ", active "
        << hw.active << ")";
    m.owed = false;
    // A resampler that finds its device still asserting raises it again at once.
    if (reraise_in_notifier_ && Pick(4) == 0) {
      Note(Op::kReraiseInNotifier, id);
      Drive(id, true);
    }
  }

  // ------------------------------------------------------------------ checks

  void CheckStructure(bool after_fold) {
    TestVgicV5& v = h_.vgic();
    uint32_t in_flight = 0;
    uint32_t watched = 0;
    for (uint32_t x = 0; x < kSpis; ++x) {
      const ModelSpi& m = spis_[x];
      const SpiSnapshotV5 s = h_.Snapshot(x);
      const auto hw = Hw(x);
      const bool tracked = s.in_flight != InFlight::kNo;
      in_flight += tracked ? 1 : 0;
      watched += s.in_flight == InFlight::kWatched ? 1 : 0;
      if (after_fold && m.has_notifier && m.owed && !hw.pending && !hw.active && !m.LineHigh()) {
        ADD_FAILURE() << Spi(x) << ": lost or delayed notification: idle in the IRS after a fold"
                      << " but never notified (core: in_flight " << Tracked(s.in_flight)
                      << ", active " << s.active << ", latch " << s.pending_latch << ")";
      }
      if ((m.LineHigh() || hw.pending || hw.active) && !tracked) {
        ADD_FAILURE() << Spi(x) << ": not tracked although the hardware still has it (IRS pending "
                      << hw.pending << ", active " << hw.active << ")";
      }
      EXPECT_EQ(s.in_flight == InFlight::kWatched, m.has_notifier && tracked)
          << Spi(x) << ": core says in_flight " << Tracked(s.in_flight)
          << " (kWatched iff a notifier and in flight)";
      EXPECT_EQ(s.has_notifier, m.has_notifier) << Spi(x);
      EXPECT_EQ(m.owed, m.has_notifier && tracked)
          << Spi(x) << ": core in_flight " << Tracked(s.in_flight)
          << "; a notification is owed exactly while an SPI with a notifier is tracked";
      EXPECT_EQ(s.trigger, m.trigger) << Spi(x);
      if (m.trigger == Trigger::kLevel) {
        EXPECT_EQ(s.line_level, m.line) << Spi(x);
      }
      if (!tracked) {
        EXPECT_FALSE(s.active || s.pending_latch) << Spi(x) << ": untracked with stale state";
      }
      if (after_fold) {
        // Round robin: every quiet probe either moves the cursor on or pops the SPI under it,
        // so a quiet SPI that stays idle is reached (and popped) within one sweep of cursor
        // moves (fewer than the most quiet SPIs there were) plus the pops of others, and one more
        // sweep each time a notifier set on another quiet SPI moved it (the list's last SPI
        // fills the hole). Counted in probes, not passes: how often a pass probes is the core's.
        uint64_t& n = quiet_idle_probes_[x];
        const bool idle = !hw.pending && !hw.active && !m.LineHigh();
        if (s.in_flight == InFlight::kQuiet && idle) {
          if (n == 0) {
            linger_moves_[x] = quiet_moves_;
            linger_max_quiet_[x] = 0;
            linger_pops_[x] = 0;
          }
          n += last_quiet_probes_;
          linger_pops_[x] += last_quiet_pops_;
          linger_max_quiet_[x] = std::max(linger_max_quiet_[x], last_quiet_before_);
          const uint64_t sweeps = 1 + quiet_moves_ - linger_moves_[x];
          if (n > linger_max_quiet_[x] * sweeps + linger_pops_[x]) {
            ADD_FAILURE() << Spi(x) << ": quiet and idle through " << n << " quiet probes ("
                          << sweeps << " sweeps of at most " << linger_max_quiet_[x]
                          << " quiet SPIs, " << linger_pops_[x]
                          << " others popped): the round-robin probe does not reach it";
          }
        } else {
          n = 0;
        }
      }
      if (after_fold && s.in_flight == InFlight::kWatched) {
        EXPECT_EQ(s.active, hw.active) << Spi(x) << ": the fold did not take the IRS's Active";
        if (m.trigger == Trigger::kEdge) {
          EXPECT_EQ(s.pending_latch, hw.pending)
              << Spi(x) << ": the fold did not take the IRS's Pending into the edge latch";
        } else if (m.line) {
          EXPECT_TRUE(hw.pending) << Spi(x) << ": the line is high but the IRS lost Pending and"
                                  << " the fold did not re-assert it";
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
    EXPECT_EQ(v.in_flight(), in_flight) << Ctx() << "in_flight() vs the snapshots";
    EXPECT_EQ(v.watched_in_flight(), watched) << Ctx() << "watched_in_flight() vs the snapshots";
    EXPECT_TRUE(h_.platform().violations().empty())
        << Ctx() << "platform: " << h_.platform().violations()[0];
  }

  // ------------------------------------------------------------------ one random step

  void Step() {
    const uint32_t x = Pick(kSpis);
    ModelSpi& m = spis_[x];
    const uint32_t vpe = Pick(kVcpus);
    switch (Pick(32)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
      case 7: {  // a device
        if (m.trigger == Trigger::kEdge) {
          const bool edge = Pick(8) != 0;  // sometimes a no-op "low" from an edge device
          Note(Op::kEdge, x, edge);
          Drive(x, edge);
        } else {
          const bool level = Pick(8) == 0 ? m.line : !m.line;  // sometimes repeats its level
          Note(Op::kLine, x, level);
          Drive(x, level);
        }
        break;
      }
      case 8:
      case 9:
      case 10:
      case 11:
      case 12:
        Acknowledge(vpe);
        break;
      case 13:
      case 14:
      case 15:
        if (const std::optional<uint32_t> id = PriorityDrop(vpe)) to_deactivate_.push_back(*id);
        break;
      case 16:
      case 17:
      case 18:  // EOImode 1: deactivate a dropped SPI, from any vPE
        if (!to_deactivate_.empty()) {
          const size_t i = Pick(static_cast<uint32_t>(to_deactivate_.size()));
          const uint32_t id = to_deactivate_[i];
          to_deactivate_[i] = to_deactivate_.back();
          to_deactivate_.pop_back();
          Deactivate(id, Op::kDeactivate);
        }
        break;
      case 19:  // deactivated before its priority drop
        for (Taken& t : taken_[vpe]) {
          if (!t.deactivated) {
            t.deactivated = true;
            Deactivate(t.id, Op::kDeactivateBeforeDrop);
            break;
          }
        }
        break;
      case 20:  // EOImode 0: the whole handler at once
        if (taken_[vpe].empty()) {
          Note(Op::kHandleOne, vpe);
          Acknowledge(vpe);
          if (const std::optional<uint32_t> id = PriorityDrop(vpe)) {
            Deactivate(*id, Op::kDeactivate);
          }
        }
        break;
      case 21: {  // the guest's handler quietens a level device it is handling
        for (uint32_t v = 0; v < kVcpus; ++v) {
          for (const Taken& t : taken_[v]) {
            if (spis_[t.id].LineHigh() && Pick(2) == 0) {
              Note(Op::kDeviceServiced, t.id);
              Drive(t.id, false);
              return;
            }
          }
        }
        break;
      }
      case 22:
      case 23:
        if (m.has_notifier) {
          if (Pick(8) == 0) {
            EXPECT_EQ(h_.vgic().SetDeactivationNotifier(x, &Notify<0>, &regs_[x][0]).code(),
                      absl::StatusCode::kAlreadyExists)
                << Spi(x);
            break;
          }
          RemoveNotifier(x);
        } else {
          if (Pick(8) == 0) {
            EXPECT_EQ(h_.vgic().RemoveDeactivationNotifier(x).code(), absl::StatusCode::kNotFound)
                << Spi(x);
            break;
          }
          Note(Op::kSetNotifier, x, static_cast<int>(h_.Snapshot(x).in_flight));
          SetNotifier(x);
        }
        break;
      case 24:
      case 25:
      case 26:
      case 27:
      case 28:
        Fold(vpe, Pick(2) == 0);
        break;
      case 29:  // the guest reprograms an SPI
        switch (Pick(3)) {
          case 0:
            m.guest_enabled = !m.guest_enabled;
            Note(Op::kGuestEnable, x, m.guest_enabled);
            h_.irs().GuestSetEnabled(h_.vm(), x, m.guest_enabled);
            break;
          case 1:
            m.target = static_cast<uint16_t>(Pick(kVcpus));
            Note(Op::kGuestTarget, x, m.target);
            h_.irs().GuestSetTarget(h_.vm(), x, m.target);
            break;
          case 2:  // a level device in edge handling mode: acknowledge clears Pending
            if (m.trigger == Trigger::kLevel) {
              m.guest_level = !m.guest_level;
              Note(Op::kGuestHandlingMode, x, m.guest_level);
              h_.irs().GuestSetHandlingMode(h_.vm(), x, m.guest_level);
            }
            break;
        }
        break;
      case 30: {  // the hypervisor changes the device's trigger (refused while in flight)
        if (Pick(4) != 0) break;
        const Trigger other = m.trigger == Trigger::kLevel ? Trigger::kEdge : Trigger::kLevel;
        const bool tracked = h_.Snapshot(x).in_flight != InFlight::kNo;
        Note(Op::kConfigureSpi, x, other == Trigger::kLevel);
        const absl::Status st = h_.vgic().ConfigureSpi(x, other);
        if (tracked) {
          EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << Spi(x) << st;
        } else {
          ASSERT_TRUE(st.ok()) << Spi(x) << st;
          m.trigger = other;
          m.line = false;
          m.guest_level = other == Trigger::kLevel;
          h_.irs().GuestSetHandlingMode(h_.vm(), x, m.guest_level);
        }
        break;
      }
      case 31:
        Fold(vpe, /*whole_fold=*/true);
        break;
    }
  }

  // ------------------------------------------------------------------ the end

  // The guest acknowledges, drops and deactivates everything it can take, with exits between.
  void GuestFinishes() {
    for (int round = 0; round < 64 && !::testing::Test::HasFailure(); ++round) {
      bool progress = false;
      for (uint32_t vpe = 0; vpe < kVcpus; ++vpe) {
        for (;;) {
          const size_t before = taken_[vpe].size();
          Acknowledge(vpe);
          if (taken_[vpe].size() == before) break;
          progress = true;
        }
        while (!taken_[vpe].empty()) {
          if (const std::optional<uint32_t> id = PriorityDrop(vpe)) to_deactivate_.push_back(*id);
          progress = true;
        }
      }
      for (uint32_t id : to_deactivate_) Deactivate(id, Op::kDeactivate);
      progress |= !to_deactivate_.empty();
      to_deactivate_.clear();
      if (!progress) break;
      Fold(Pick(kVcpus), true);
    }
  }

  // Exits until at most `target` SPIs are tracked (however the core rations quiet probes, exits
  // must get there); returns the quiet probes used.
  uint64_t ExitUntilTracked(uint32_t target) {
    const uint64_t probes_before = quiet_probes_;
    constexpr uint32_t kMaxExits = 64 * (kSpis + 1);
    for (uint32_t n = 0; n < kMaxExits && h_.vgic().in_flight() > target; ++n) {
      Fold(n % kVcpus, n % 2 == 0);
      if (::testing::Test::HasFailure()) break;
    }
    EXPECT_EQ(h_.vgic().in_flight(), target)
        << Ctx() << "idle SPIs still tracked after " << kMaxExits << " exits";
    return quiet_probes_ - probes_before;
  }

  // The devices go quiet and the guest handles everything, except a holdout: one quiet SPI the
  // guest keeps pending (disabled), so the round-robin probe must get past an SPI that never
  // becomes idle. Every other SPI must leave tracking; then the holdout is released too.
  void Drain() {
    step_ = -1;
    Note(Op::kDrain);
    reraise_in_notifier_ = false;
    const uint32_t z = Pick(kSpis);
    if (spis_[z].has_notifier) RemoveNotifier(z);
    for (uint32_t x = 0; x < kSpis; ++x) {
      ModelSpi& m = spis_[x];
      if (m.LineHigh() && x != z) Drive(x, false);
      m.guest_enabled = x != z;
      m.guest_level = m.trigger == Trigger::kLevel;
      h_.irs().GuestSetEnabled(h_.vm(), x, m.guest_enabled);
      h_.irs().GuestSetHandlingMode(h_.vm(), x, m.guest_level);
    }
    Drive(z, true);
    GuestFinishes();
    if (::testing::Test::HasFailure()) return;
    for (uint32_t x = 0; x < kSpis; ++x) {
      const auto hw = Hw(x);
      if (x == z) {
        // (A high line that a guest in edge handling mode took is re-asserted by the next fold.)
        ASSERT_TRUE(hw.pending || spis_[x].LineHigh()) << Spi(x) << ": the holdout";
      } else {
        ASSERT_FALSE(hw.pending || hw.active) << Spi(x) << ": the guest could not finish it";
      }
    }
    ExitUntilTracked(1);
    ASSERT_EQ(h_.Snapshot(z).in_flight, InFlight::kQuiet) << Spi(z) << ": the holdout";
    if (::testing::Test::HasFailure()) return;

    // The guest enables the holdout and takes it; the device goes quiet.
    spis_[z].guest_enabled = true;
    h_.irs().GuestSetEnabled(h_.vm(), z, true);
    if (spis_[z].LineHigh()) Drive(z, false);
    GuestFinishes();
    if (::testing::Test::HasFailure()) return;
    for (uint32_t x = 0; x < kSpis; ++x) {
      const auto hw = Hw(x);
      ASSERT_FALSE(hw.pending || hw.active) << Spi(x) << ": the guest could not finish it";
    }
    // All idle: the next pass pops every watched SPI, and each quiet probe pops the one it meets.
    const uint32_t quiet = h_.vgic().in_flight() - h_.vgic().watched_in_flight();
    EXPECT_LE(ExitUntilTracked(0), quiet) << Ctx() << "a quiet probe of an idle SPI did not pop it";
    for (uint32_t x = 0; x < kSpis; ++x) EXPECT_FALSE(spis_[x].owed) << Spi(x) << " never notified";
    EXPECT_EQ(h_.vgic().stats().notifications, notifications_) << Ctx();
    EXPECT_TRUE(h_.platform().violations().empty()) << Ctx();
  }

  struct Event {
    int step = 0;
    Op op = Op::kDrain;
    int64_t a = -1;
    int64_t b = -1;
  };

  std::mt19937_64 rng_;
  uint64_t seed_;
  VgicV5Harness h_;
  std::array<ModelSpi, kSpis> spis_{};
  std::array<std::array<Registration, 2>, kSpis> regs_{};
  std::array<std::vector<Taken>, kVcpus> taken_{};
  std::vector<uint32_t> to_deactivate_;              // dropped, active, not yet deactivated
  std::array<uint64_t, kSpis> quiet_idle_probes_{};  // quiet probes while it sat idle and quiet
  uint64_t last_quiet_probes_ = 0;                   // quiet probes of the last fold
  uint64_t last_quiet_before_ = 0;                   // quiet SPIs before the last fold
  uint64_t quiet_moves_ = 0;  // notifiers set on quiet SPIs (each moves the last quiet SPI)
  std::array<uint64_t, kSpis> linger_moves_{};
  std::array<uint64_t, kSpis> linger_max_quiet_{};
  std::array<uint64_t, kSpis> linger_pops_{};
  uint64_t last_quiet_pops_ = 0;  // quiet SPIs the last fold popped
  uint64_t quiet_probes_ = 0;
  int step_ = 0;
  bool in_fold_ = false;
  int fold_cpu_ = -1;
  bool reraise_in_notifier_ = true;
  uint64_t notifications_ = 0;
  std::array<Event, 12> history_{};
  size_t history_next_ = 0;
};

TEST(VgicV5Property, RandomSequencesMatchTheNotificationModel) {
  const uint64_t first = irqvirt::testing::SeedFromEnv("IRQVIRT_V5_PROPERTY_SEED", 1);
  for (uint64_t seed = first; seed < first + kSeeds && !HasFailure(); ++seed) {
    Sequence(seed).Run(kStepsPerSeed);
  }
}

}  // namespace
}  // namespace irqvirt::vgic::testing
