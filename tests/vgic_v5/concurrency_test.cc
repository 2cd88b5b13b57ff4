// SPDX-License-Identifier: MIT
// The GICv5 vGIC core with real threads (run under --config=tsan; tagged "concurrency").
//
// Stress (RunStress): four vCPU threads, each bound to its own pCPU of a ThreadedPlatform, play
// their guests on one fake IRS under the shipped VDRCFG/VDPEND backend and exit in a loop:
// FlushPpis, then guest operations (acknowledge the SPIs the IRS gives their vPE, priority
// drop, deactivate later, EOImode-1 style, sometimes an SPI another vPE acknowledged and put in
// a shared pool; take and deactivate PPIs), then Fold. Two device threads inject edges on the
// edge SPIs and PPIs, and each drives half of the level SPIs: a level device keeps its line
// high until the guest services it (the guest marks the device serviced when it acknowledges
// the SPI; the device then lowers the line and stays masked); the level SPIs' notifier is the
// resample hook: it unmasks the device and re-injects when the device has more work. A churn
// thread sets and removes notifiers on a few other edge SPIs (some removals while the notifier
// runs) and frees each heap context after its removal (a quarantine of a few, so that a late
// call is seen by a 'dead' flag, then by tsan/asan once freed). At the end devices stop, lines
// go low, the vCPUs drain their guests and exit, and one thread folds until nothing is in
// flight.
// Checked: in_flight() == 0 and a clean hardware and vGIC state at the end; per notified SPI:
// at least one notification if it was made pending while watched, and never more than the
// injections that could have made it pending while it had that notifier (no duplicates); no
// notifier runs after its RemoveDeactivationNotifier returned, nor while the removal returns;
// no notifier runs with interrupts off on its thread (probed through the platform: a self-IPI
// is handled at once only with interrupts on, and every vGIC lock is an IRQ-safe lock taken
// with LockIrqSave, so a notifier called under any vGIC lock sees it not handled); no SPI is
// acknowledged twice without a deactivation in between; no PPI edge is lost.
//
// Stampede: eight threads call FoldSpis concurrently with 256 SPIs in flight, one watched;
// exits queued behind a pass share one more pass. Served exit: a guest deactivates the watched SPI and
// its vCPU exits while another vCPU's pass, which has already queried that SPI, is still
// running (dispatching a lingering notifier), among other exits: once every FoldSpis call has
// returned, the notification has run (a pass started after that exit). Handoff: an exit during
// the notifiers of a folder's last pass waits for them and folds itself, so the folder returns.
//
// Seed: IRQVIRT_STRESS_SEED. Bounded by operation counts (and a watchdog), not time.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "hw/fake/fake_gicv5_irs.h"
#include "hw/fake/threaded_platform.h"
#include "hw/gicv5_ppi_state.h"
#include "irqvirt/vgic/vgic_v5.h"
#include "tests/common/seed.h"

namespace irqvirt::vgic {
namespace {

using hw::fake::FakeGicv5Irs;
using hw::fake::ThreadedPlatform;
using TestVgicV5 = VgicV5<ThreadedPlatform>;
using Backend = hw::arm::Gicv5VirtualSpisBackend<FakeGicv5Irs>;

constexpr uint16_t kVm = 1;
constexpr int kIrsVms = 2;

// ------------------------------------------------------------------ the lock probe

// A notifier must run with no vGIC lock held. Every vGIC lock is an IRQ-safe spinlock whose
// outermost acquisition is LockIrqSave, so on a ThreadedPlatform a thread holding one has
// interrupts off, and a self-IPI is then left in the mailbox instead of being handled.
constexpr uint8_t kProbeVector = 0xf0;
thread_local bool tls_probe_handled = false;
void ProbeHandler(void*, int, uint8_t) { tls_probe_handled = true; }

// Whether the calling thread (bound to a pCPU) has interrupts on: no IRQ-safe lock held.
bool InterruptsOn(ThreadedPlatform& platform) {
  const int cpu = platform.current_cpu();
  tls_probe_handled = false;
  platform.RaiseInterrupt(cpu, kProbeVector);
  platform.PollInterrupts();
  return tls_probe_handled;
}

// The probe itself: handled at once with interrupts on, left pending under an IRQ-safe lock
// (and handled when the lock is dropped).
TEST(VgicV5ConcurrencyTest, LockProbeSeesInterruptsOffUnderAnIrqSaveLock) {
  ThreadedPlatform platform(1, [](void*, uint32_t) {}, nullptr);
  ASSERT_TRUE(platform.RegisterVectorHandler(kProbeVector, &ProbeHandler, nullptr).ok());
  platform.BindCurrentThread(0);
  EXPECT_TRUE(InterruptsOn(platform));
  ThreadedPlatform::SpinLock lock;
  const hw::IrqFlags f = platform.LockIrqSave(lock);
  EXPECT_FALSE(InterruptsOn(platform));
  platform.UnlockIrqRestore(lock, f);
  EXPECT_TRUE(tls_probe_handled) << "the pending probe is handled once the lock is dropped";
  platform.UnregisterVectorHandler(kProbeVector);
}

// A hang inside the core (a lock never released, a removal waiting forever) fails with a
// message instead of waiting for Bazel's timeout.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, std::string what)
      : thread_([this, limit, what] {
          std::unique_lock<std::mutex> l(mu_);
          if (!cv_.wait_for(l, limit, [&] { return done_; })) {
            std::cerr << what << ": no progress after " << limit.count()
                      << " s: a thread spins in the vGIC or waits for a lock; aborting"
                      << std::endl;
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// ------------------------------------------------------------------------ the stress

constexpr uint32_t kVcpus = 4;
constexpr int kCpus = kVcpus + 1;  // the last pCPU is the checker's (the final folds)
constexpr uint32_t kNumEdgeSpis = 16;            // SPIs 0..15: edges
constexpr uint32_t kNumWatchedEdgeSpis = 8;      //   0..7 with a permanent notifier
constexpr uint32_t kFirstLevelSpi = 16;          // SPIs 16..31: level devices, resampled
constexpr uint32_t kNumLevelSpis = 16;
constexpr uint32_t kFirstChurnSpi = 32;          // SPIs 32..35: edges, notifiers come and go
constexpr uint32_t kNumChurnSpis = 4;
constexpr uint32_t kSpis = kFirstChurnSpi + kNumChurnSpis;
constexpr uint32_t kNumEdgePpis = 8;             // PPIs 0..7: edges
constexpr uint32_t kLevelPpi = 16;               // one level PPI per vCPU
constexpr int kDevices = 2;
constexpr int kDeviceOps = 8000;
constexpr int kChurnIterations = 300;
constexpr int kMinVcpuIterations = 300;
constexpr int kQuarantine = 4;  // removed churn contexts kept (dead) before they are freed
constexpr int kMaxFinalFolds = 2000;
constexpr auto kNotificationDeadline = std::chrono::seconds(10);
constexpr std::chrono::seconds kWatchdogLimit{120};
constexpr uint8_t kPriorities[] = {4, 8, 12, 16};  // distinct: acknowledgements nest

bool IsLevel(uint32_t id) { return id >= kFirstLevelSpi && id < kFirstLevelSpi + kNumLevelSpis; }
bool HasPermanentNotifier(uint32_t id) { return id < kNumWatchedEdgeSpis || IsLevel(id); }

struct Shared;

// A level-triggered device behind an irqfd-style resampler (VFIO INTx): new work raises the
// line when the device is idle; the line stays high until the guest services the device (it
// acknowledges the SPI); the device then lowers it and stays masked, collecting work, until the
// resample notifier unmasks it, which raises the line again if there is work.
enum DeviceState : int { kIdle, kAsserted, kMasked };
struct LevelDevice {
  Shared* s = nullptr;
  uint32_t id = 0;
  std::atomic<uint32_t> work{0};       // work items the guest has not serviced
  std::atomic<bool> serviced{false};   // the guest took the SPI: the device may lower its line
  std::atomic<int> state{kIdle};
};

// One set of a churn notifier: a heap object, freed after its removal (and a quarantine).
struct ChurnContext {
  Shared* s = nullptr;
  uint32_t id = 0;
  std::atomic<bool> dead{false};      // set once RemoveDeactivationNotifier returned
  std::atomic<int> running{0};        // calls in progress
  std::atomic<bool> entered{false};
  std::atomic<uint64_t> calls{0};
};

struct Shared {
  explicit Shared(uint64_t env_seed)
      : seed("IRQVIRT_STRESS_SEED=" + std::to_string(env_seed)),
        platform(kCpus, [](void*, uint32_t) {}, nullptr),
        irs(kIrsVms, kSpis),
        backend(irs) {
    for (auto& h : holder) h.store(-1);
    for (uint32_t k = 0; k < kNumLevelSpis; ++k) {
      level[k].s = this;
      level[k].id = kFirstLevelSpi + k;
    }
  }

  // Every Inject(id, true), from any thread, is counted before (started) and after (completed).
  void InjectHigh(uint32_t id) {
    started[id].fetch_add(1, std::memory_order_seq_cst);
    const absl::Status st = vgic->Inject(id, true);
    EXPECT_TRUE(st.ok()) << st;
    completed[id].fetch_add(1, std::memory_order_seq_cst);
  }
  void InjectLow(uint32_t id) {
    const absl::Status st = vgic->Inject(id, false);
    EXPECT_TRUE(st.ok()) << st;
  }

  // Returns false when the notifier runs under a vGIC lock (then it must not call back into
  // the vGIC: its spinlocks are not recursive, the test would hang instead of failing).
  bool CheckNotifierContext(uint32_t id) {
    if (platform.current_cpu() < 0) {
      unbound_notifier_calls.fetch_add(1);
    } else if (!InterruptsOn(platform)) {
      if (notifiers_under_lock.fetch_add(1) == 0) {
        ADD_FAILURE() << seed << ": the notifier of SPI " << id
                      << " runs with interrupts off on pCPU " << platform.current_cpu()
                      << ": a vGIC lock is held";
      }
      return false;
    }
    return true;
  }

  // The permanent notifier of edge SPIs 0..7: counts.
  static void EdgeNotifier(void* context, uint32_t id) {
    auto* s = static_cast<Shared*>(context);
    s->CheckNotifierContext(id);
    if (id >= kSpis || !HasPermanentNotifier(id)) {
      ADD_FAILURE() << "edge notifier called for SPI " << id;
      return;
    }
    s->notifications[id].fetch_add(1, std::memory_order_seq_cst);
  }

  // The resample hook of a level device: the guest deactivated it (or the line went low before
  // the guest took it); if the device has more work, its line goes high again.
  static void LevelNotifier(void* context, uint32_t id) {
    auto* d = static_cast<LevelDevice*>(context);
    Shared* s = d->s;
    const bool lock_free = s->CheckNotifierContext(id);
    if (d->id != id) ADD_FAILURE() << "level notifier of SPI " << d->id << " called for " << id;
    s->notifications[id].fetch_add(1, std::memory_order_seq_cst);
    s->reinjects_in_progress.fetch_add(1, std::memory_order_seq_cst);
    // Unmask; work that came meanwhile raises the line (here or in the device, not both).
    int masked = kMasked;
    d->state.compare_exchange_strong(masked, kIdle, std::memory_order_seq_cst);
    int idle = kIdle;
    if (lock_free && !s->stop_reinjecting.load(std::memory_order_seq_cst) &&
        d->work.load(std::memory_order_seq_cst) != 0 &&
        d->state.compare_exchange_strong(idle, kAsserted, std::memory_order_seq_cst)) {
      s->InjectHigh(id);
      s->resample_reinjects.fetch_add(1, std::memory_order_relaxed);
    }
    s->reinjects_in_progress.fetch_sub(1, std::memory_order_seq_cst);
  }

  // The churn notifier: lingers a little, so that removals race with running calls.
  static void ChurnNotifier(void* context, uint32_t id) {
    auto* c = static_cast<ChurnContext*>(context);
    Shared* s = c->s;
    s->CheckNotifierContext(id);
    if (c->dead.load(std::memory_order_seq_cst)) s->late_calls.fetch_add(1);
    if (c->id != id) ADD_FAILURE() << "churn notifier of SPI " << c->id << " called for " << id;
    c->running.fetch_add(1, std::memory_order_seq_cst);
    c->entered.store(true, std::memory_order_seq_cst);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    c->calls.fetch_add(1, std::memory_order_seq_cst);
    if (c->dead.load(std::memory_order_seq_cst)) s->late_calls.fetch_add(1);
    c->running.fetch_sub(1, std::memory_order_seq_cst);
    s->churn_notifications.fetch_add(1, std::memory_order_relaxed);
  }

  // An SPI is held by at most one guest: acknowledged and not yet deactivated.
  void Hold(uint32_t id, uint32_t vcpu) {
    const int32_t other = holder[id].exchange(static_cast<int32_t>(vcpu));
    if (other != -1) {
      ADD_FAILURE() << seed << ": vPE " << vcpu << " acknowledged SPI " << id << " while vPE "
                    << other << " still has it active";
    }
  }
  void Release(uint32_t id, uint32_t vcpu) {
    const int32_t h = holder[id].exchange(-1);
    if (h == -1) ADD_FAILURE() << "vPE " << vcpu << " deactivates SPI " << id << ", held by none";
  }

  void Publish(uint32_t id) {
    std::lock_guard<std::mutex> l(pool_mu);
    pool.push_back(id);
  }
  std::optional<uint32_t> Take(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> l(pool_mu);
    if (pool.empty()) return std::nullopt;
    const size_t i = rng() % pool.size();
    const uint32_t id = pool[i];
    pool[i] = pool.back();
    pool.pop_back();
    return id;
  }

  const std::string seed;
  ThreadedPlatform platform;
  FakeGicv5Irs irs;
  Backend backend;
  std::unique_ptr<TestVgicV5> vgic;
  LevelDevice level[kNumLevelSpis];

  std::atomic<uint64_t> started[kSpis] = {};
  std::atomic<uint64_t> completed[kSpis] = {};
  std::atomic<uint64_t> notifications[kSpis] = {};  // permanent notifiers
  std::atomic<int32_t> holder[kSpis];
  std::atomic<uint32_t> ppi_since_ack[kVcpus][kNumEdgePpis] = {};

  std::atomic<bool> stop_reinjecting{false};
  std::atomic<int> reinjects_in_progress{0};
  std::atomic<int> producers_done{0};  // devices and the churn thread
  std::atomic<bool> stop_vcpus{false};

  std::atomic<uint64_t> notifiers_under_lock{0};
  std::atomic<uint64_t> unbound_notifier_calls{0};
  std::atomic<uint64_t> late_calls{0};
  std::atomic<uint64_t> churn_notifications{0};
  std::atomic<uint64_t> resample_reinjects{0};
  std::atomic<uint64_t> level_raises{0};
  std::atomic<uint64_t> level_lowers{0};
  std::atomic<uint64_t> edge_injections{0};
  std::atomic<uint64_t> ppi_injections{0};
  std::atomic<uint64_t> cross_deactivations{0};

  std::atomic<uint64_t> vcpu_exits[kVcpus] = {};

  std::mutex pool_mu;
  std::vector<uint32_t> pool;  // priority-dropped SPIs any vPE may deactivate; pool_mu
};

// SPI `id` as the vGIC, the IRS and the guests see it, and the vCPUs' progress: for a failure.
std::string Describe(Shared& s, uint32_t id) {
  std::ostringstream o;
  if (absl::StatusOr<SpiSnapshotV5> snap = s.vgic->Snapshot(id); snap.ok()) {
    o << "vGIC: in_flight=" << static_cast<int>(snap->in_flight)
      << " pending_latch=" << snap->pending_latch << " line_level=" << snap->line_level
      << " active=" << snap->active << " has_notifier=" << snap->has_notifier;
  }
  const FakeGicv5Irs::SpiState hw = s.irs.State(kVm, id);
  o << "; IRS: pending=" << hw.pending << " active=" << hw.active << " enabled=" << hw.enabled
    << " priority=" << int{hw.priority} << " target=" << hw.target
    << "; held by guest " << s.holder[id].load();
  {
    std::lock_guard<std::mutex> l(s.pool_mu);
    o << "; pool " << s.pool.size() << " (has it: "
      << (std::find(s.pool.begin(), s.pool.end(), id) != s.pool.end()) << ")";
  }
  o << "; APRs";
  for (uint32_t v = 0; v < kVcpus; ++v) {
    o << " " << std::hex << s.irs.ActivePriorities(kVm, static_cast<uint16_t>(v)) << std::dec;
  }
  o << "; exits";
  for (uint32_t v = 0; v < kVcpus; ++v) o << " " << s.vcpu_exits[v].load();
  const VgicV5Stats st = s.vgic->stats();
  o << "; in_flight " << s.vgic->in_flight() << " watched " << s.vgic->watched_in_flight()
    << "; requests " << st.fold_requests << " passes " << st.fold_passes << " (extra "
    << st.extra_passes << ") notifications " << st.notifications
    << "; producers done " << s.producers_done.load();
  return o.str();
}

// One vCPU's guest and run-loop state; used by its own thread, then by the checker after join.
class VcpuRunner {
 public:
  VcpuRunner(Shared& s, uint32_t id, uint64_t seed) : s_(s), id_(id), rng_(seed) {}

  void Enter() {
    const absl::Status st = s_.vgic->FlushPpis(id_, ppis_);
    EXPECT_TRUE(st.ok()) << st;
  }
  void Exit() {
    const absl::Status st = s_.vgic->Fold(id_, ppis_);
    EXPECT_TRUE(st.ok()) << st;
    ++exits_;
    s_.vcpu_exits[id_].fetch_add(1, std::memory_order_relaxed);
  }

  // One run: enter, a few guest operations, exit.
  void Run() {
    Enter();
    const int ops = 1 + static_cast<int>(rng_() % 8);
    for (int n = 0; n < ops; ++n) {
      const uint64_t r = rng_() % 12;
      if (r < 4) {
        AcknowledgeSpi();
      } else if (r < 6) {
        DropNewest();
      } else if (r < 7) {
        DeactivateOwn();
      } else if (r < 8) {
        PublishOne();
      } else if (r < 9) {
        DeactivateFromPool();
      } else if (r < 10) {
        AcknowledgePpi();
      } else if (r < 11) {
        DeactivatePpi();
      } else {
        std::this_thread::yield();  // the guest computes
      }
    }
    Exit();
  }

  // Everything this guest holds is finished (its acknowledgements, its deactivations, the
  // pool's); returns whether it did anything. In the guest: the caller enters and exits.
  bool DrainGuest() {
    bool did = false;
    for (;;) {
      bool step = AcknowledgeSpi();
      while (!stack_.empty()) {
        DropNewest();
        step = true;
      }
      while (!waiting_.empty()) {
        DeactivateOwn();
        step = true;
      }
      while (DeactivateFromPool()) step = true;
      while (AcknowledgePpi()) step = true;
      while (DeactivatePpi()) step = true;
      if (!step) return did;
      did = true;
    }
  }

  bool holds_nothing() const { return stack_.empty() && waiting_.empty(); }
  uint64_t exits_ = 0;
  uint64_t spi_acks_ = 0;
  uint64_t ppi_acks_ = 0;

 private:
  // GICR CDIA on this vPE.
  bool AcknowledgeSpi() {
    const std::optional<uint32_t> id = s_.irs.Acknowledge(kVm, static_cast<uint16_t>(id_));
    if (!id) return false;
    ++spi_acks_;
    if (*id >= kSpis) {
      ADD_FAILURE() << "vPE " << id_ << " acknowledged SPI " << *id;
      return true;
    }
    s_.Hold(*id, id_);
    if (IsLevel(*id)) {  // the guest's handler services the device: it may lower its line
      LevelDevice& d = s_.level[*id - kFirstLevelSpi];
      d.work.store(0, std::memory_order_seq_cst);
      d.serviced.store(true, std::memory_order_seq_cst);
    }
    stack_.push_back(*id);
    return true;
  }
  // GIC CDEOI of the newest acknowledgement (EOImode 1: it stays active until a CDDI).
  void DropNewest() {
    if (stack_.empty()) return;
    const uint32_t id = stack_.back();
    stack_.pop_back();
    EXPECT_TRUE(s_.irs.PriorityDrop(kVm, static_cast<uint16_t>(id_))) << "vPE " << id_;
    waiting_.push_back(id);
  }
  void DeactivateOwn() {
    if (waiting_.empty()) return;
    const size_t i = rng_() % waiting_.size();
    const uint32_t id = waiting_[i];
    waiting_[i] = waiting_.back();
    waiting_.pop_back();
    s_.Release(id, id_);
    s_.irs.Deactivate(kVm, id);
  }
  // Hands a priority-dropped SPI to whichever vPE deactivates it.
  void PublishOne() {
    if (waiting_.empty()) return;
    const size_t i = rng_() % waiting_.size();
    const uint32_t id = waiting_[i];
    waiting_[i] = waiting_.back();
    waiting_.pop_back();
    s_.Publish(id);
  }
  bool DeactivateFromPool() {
    const std::optional<uint32_t> id = s_.Take(rng_);
    if (!id) return false;
    s_.cross_deactivations.fetch_add(1, std::memory_order_relaxed);
    s_.Release(*id, id_);
    s_.irs.Deactivate(kVm, *id);
    return true;
  }
  // The vCPU's PPIs as the hardware holds them between entry and exit: taking a pending PPI
  // makes it active (an edge loses its pending state), deactivating clears Active.
  bool AcknowledgePpi() {
    for (uint32_t p : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, kLevelPpi}) {
      const uint64_t m = uint64_t{1} << (p % 64);
      uint64_t& pend = ppis_.pendr[p / 64];
      uint64_t& act = ppis_.activer[p / 64];
      if ((pend & m) == 0 || (act & m) != 0) continue;
      act |= m;
      pend &= ~m;  // a level PPI's pending state is the line's: the fold ignores it
      if (p < kNumEdgePpis) s_.ppi_since_ack[id_][p].store(0, std::memory_order_seq_cst);
      ++ppi_acks_;
      return true;
    }
    return false;
  }
  bool DeactivatePpi() {
    for (int w = 0; w < 2; ++w) {
      if (ppis_.activer[w] != 0) {
        ppis_.activer[w] &= ppis_.activer[w] - 1;
        return true;
      }
    }
    return false;
  }

  Shared& s_;
  const uint32_t id_;
  std::mt19937_64 rng_;
  hw::Gicv5PpiState ppis_;
  std::vector<uint32_t> stack_;    // acknowledged, not priority-dropped (newest last)
  std::vector<uint32_t> waiting_;  // priority-dropped, waiting for this guest's CDDI
};

void RunStress(uint64_t env_seed) {
  const uint64_t seed = env_seed * 1000003 + 5;
  SCOPED_TRACE(::testing::Message() << "IRQVIRT_STRESS_SEED=" << env_seed);
  auto shared = std::make_unique<Shared>(env_seed);
  Shared& s = *shared;
  // This thread's own pCPU (its notifiers' self-IPIs must not land in a vCPU's mailbox).
  s.platform.BindCurrentThread(kCpus - 1);
  auto created = TestVgicV5::Create(
      s.platform, {.num_vcpus = kVcpus, .num_spis = kSpis, .vm_id = kVm, .irs = &s.backend});
  ASSERT_TRUE(created.ok()) << created.status();
  s.vgic = std::move(*created);
  ASSERT_TRUE(s.platform.RegisterVectorHandler(kProbeVector, &ProbeHandler, nullptr).ok());

  std::mt19937_64 setup_rng(seed);
  for (uint32_t id = 0; id < kSpis; ++id) {
    const Trigger t = IsLevel(id) ? Trigger::kLevel : Trigger::kEdge;
    s.irs.GuestSetEnabled(kVm, id, true);
    s.irs.GuestSetPriority(kVm, id, kPriorities[setup_rng() % std::size(kPriorities)]);
    s.irs.GuestSetHandlingMode(kVm, id, t == Trigger::kLevel);
    s.irs.GuestSetTarget(kVm, id, static_cast<uint16_t>(id % kVcpus));
    ASSERT_TRUE(s.vgic->ConfigureSpi(id, t).ok());
    if (IsLevel(id)) {
      ASSERT_TRUE(s.vgic
                      ->SetDeactivationNotifier(id, &Shared::LevelNotifier,
                                                &s.level[id - kFirstLevelSpi])
                      .ok());
    } else if (HasPermanentNotifier(id)) {
      ASSERT_TRUE(s.vgic->SetDeactivationNotifier(id, &Shared::EdgeNotifier, &s).ok());
    }
  }
  for (uint32_t v = 0; v < kVcpus; ++v) {
    ASSERT_TRUE(s.vgic->ConfigurePpi(v, kLevelPpi, Trigger::kLevel).ok());
  }

  std::vector<std::unique_ptr<VcpuRunner>> vcpus;
  for (uint32_t v = 0; v < kVcpus; ++v) {
    vcpus.push_back(std::make_unique<VcpuRunner>(s, v, seed * 31 + v));
  }

  // Per churn context: the bound on its calls, checked after its removal.
  std::atomic<uint64_t> churn_sets{0}, churn_waited{0}, churn_removed_running{0};
  const auto start = std::chrono::steady_clock::now();
  {
    Watchdog watchdog(kWatchdogLimit, s.seed + " (stress)");
    std::vector<std::thread> vcpu_threads, producers;
    for (uint32_t v = 0; v < kVcpus; ++v) {
      vcpu_threads.emplace_back([&, v] {
        s.platform.BindCurrentThread(static_cast<int>(v));
        VcpuRunner& r = *vcpus[v];
        for (int n = 0; n < kMinVcpuIterations || !s.stop_vcpus.load(); ++n) r.Run();
        // The guest finishes what it holds (the pool too) and exits a last time.
        for (int pass = 0; pass < 4; ++pass) {
          r.Enter();
          r.DrainGuest();
          r.Exit();
        }
      });
    }
    for (int d = 0; d < kDevices; ++d) {
      producers.emplace_back([&, d] {
        std::mt19937_64 rng(seed * 97 + static_cast<uint64_t>(d));
        for (int op = 0; op < kDeviceOps; ++op) {
          const uint64_t r = rng() % 20;
          if (r < 8) {  // an edge; now and then on a churn SPI
            const uint32_t id = rng() % 8 == 0
                                    ? kFirstChurnSpi + static_cast<uint32_t>(rng() % kNumChurnSpis)
                                    : static_cast<uint32_t>(rng() % kNumEdgeSpis);
            s.InjectHigh(id);
            s.edge_injections.fetch_add(1, std::memory_order_relaxed);
          } else if (r < 16) {  // one of this device's level lines
            const uint32_t k = static_cast<uint32_t>(2 * (rng() % (kNumLevelSpis / 2)) + d);
            LevelDevice& dev = s.level[k];
            if (dev.serviced.exchange(false, std::memory_order_seq_cst)) {
              // Serviced: the line goes low and stays masked until the resample.
              dev.state.store(kMasked, std::memory_order_seq_cst);
              s.InjectLow(dev.id);
              s.level_lowers.fetch_add(1, std::memory_order_relaxed);
            } else {
              dev.work.fetch_add(1, std::memory_order_seq_cst);
              int idle = kIdle;
              if (dev.state.compare_exchange_strong(idle, kAsserted,
                                                    std::memory_order_seq_cst)) {
                s.InjectHigh(dev.id);
                s.level_raises.fetch_add(1, std::memory_order_relaxed);
              }
            }
          } else if (r < 19) {  // an edge PPI of some vCPU
            const uint32_t v = static_cast<uint32_t>(rng() % kVcpus);
            const uint32_t p = static_cast<uint32_t>(rng() % kNumEdgePpis);
            s.ppi_since_ack[v][p].fetch_add(1, std::memory_order_seq_cst);
            const absl::Status st = s.vgic->InjectPpi(v, p, true);
            EXPECT_TRUE(st.ok()) << st;
            s.ppi_injections.fetch_add(1, std::memory_order_relaxed);
          } else {  // a level PPI goes high or low
            const uint32_t v = static_cast<uint32_t>(rng() % kVcpus);
            const absl::Status st = s.vgic->InjectPpi(v, kLevelPpi, rng() % 2 == 0);
            EXPECT_TRUE(st.ok()) << st;
          }
          std::this_thread::yield();
        }
        s.producers_done.fetch_add(1);
      });
    }
    producers.emplace_back([&] {  // the churn thread
      std::mt19937_64 rng(seed * 131);
      std::deque<ChurnContext*> quarantine;
      bool gave_up_waiting = false;
      for (int it = 0; it < kChurnIterations; ++it) {
        const uint32_t id = kFirstChurnSpi + static_cast<uint32_t>(rng() % kNumChurnSpis);
        auto* c = new ChurnContext;
        c->s = &s;
        c->id = id;
        // Injections that can have put it in flight while it has this notifier overlap
        // [set, removal]: at most started-at-removal - completed-at-set, plus the one period
        // already in flight when it was set.
        const uint64_t completed_at_set = s.completed[id].load(std::memory_order_seq_cst);
        const absl::Status set = s.vgic->SetDeactivationNotifier(id, &Shared::ChurnNotifier, c);
        if (!set.ok()) {
          ADD_FAILURE() << s.seed << ": churn iteration " << it << ": " << set;
          delete c;
          continue;
        }
        churn_sets.fetch_add(1);
        const uint64_t mode = rng() % 3;
        bool must_be_called = false;
        if (mode != 1 || rng() % 2 == 0) s.InjectHigh(id);
        if ((mode == 0 || mode == 2) && !gave_up_waiting) {
          // 0: wait for the notification, then remove; 2: remove while it runs.
          const auto deadline = std::chrono::steady_clock::now() + kNotificationDeadline;
          while ((mode == 0 ? c->calls.load() == 0 : !c->entered.load()) &&
                 std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
          }
          churn_waited.fetch_add(1);
          if (c->calls.load() == 0 && !c->entered.load()) {
            ADD_FAILURE() << s.seed << ": churn iteration " << it << ", SPI " << id << " (mode "
                          << mode << "): injected while watched, no notification within "
                          << kNotificationDeadline.count() << " s: " << Describe(s, id)
                          << "; 1 s later: "
                          << (std::this_thread::sleep_for(std::chrono::seconds(1)),
                              Describe(s, id))
                          << " (no more waiting for notifications in this run)";
            gave_up_waiting = true;
          } else {
            must_be_called = true;
          }
        } else {
          for (uint64_t y = rng() % 4; y > 0; --y) std::this_thread::yield();
        }
        const int running_before = c->running.load();
        const absl::Status removed = s.vgic->RemoveDeactivationNotifier(id);
        EXPECT_TRUE(removed.ok()) << removed;
        const uint64_t started_at_removal = s.started[id].load(std::memory_order_seq_cst);
        if (running_before != 0) churn_removed_running.fetch_add(1);
        const int running = c->running.load(std::memory_order_seq_cst);
        const uint64_t calls = c->calls.load(std::memory_order_seq_cst);
        c->dead.store(true, std::memory_order_seq_cst);
        EXPECT_EQ(running, 0) << s.seed << ": churn iteration " << it << ", SPI " << id
                              << ": RemoveDeactivationNotifier returned while its notifier ran";
        EXPECT_LE(calls, 1 + started_at_removal - completed_at_set)
            << s.seed << ": churn iteration " << it << ", SPI " << id
            << ": more notifications than injections could have caused (a duplicate)";
        if (must_be_called) {
          EXPECT_GE(calls, 1u) << s.seed << ": churn iteration " << it << ", SPI " << id
                               << " (mode " << mode << "): injected while watched; "
                               << (mode == 0 ? "no notification before the removal"
                                             : "its notification had begun but not finished "
                                               "when the removal returned");
        }
        quarantine.push_back(c);
        if (quarantine.size() > kQuarantine) {
          delete quarantine.front();
          quarantine.pop_front();
        }
      }
      // Freed last: a call after removal is seen by the flag first, by the sanitizers after.
      while (!quarantine.empty()) {
        delete quarantine.front();
        quarantine.pop_front();
      }
      s.producers_done.fetch_add(1);
    });

    for (auto& t : producers) t.join();
    // Devices stopped: no notifier re-injects any more, then every line goes low.
    s.stop_reinjecting.store(true, std::memory_order_seq_cst);
    while (s.reinjects_in_progress.load(std::memory_order_seq_cst) != 0) {
      std::this_thread::yield();
    }
    for (uint32_t k = 0; k < kNumLevelSpis; ++k) s.InjectLow(kFirstLevelSpi + k);
    for (uint32_t v = 0; v < kVcpus; ++v) {
      EXPECT_TRUE(s.vgic->InjectPpi(v, kLevelPpi, false).ok());
    }
    s.stop_vcpus.store(true);
    for (auto& t : vcpu_threads) t.join();
  }
  const double threaded_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The final folds, from this thread alone: the guests finish what is left (the pool's SPIs,
  // anything a level line re-raised before it went low), then exits until nothing is in flight.
  const uint64_t late_calls_before_final = s.late_calls.load();
  int final_folds = 0;
  for (int round = 0; round < kMaxFinalFolds / static_cast<int>(kVcpus); ++round) {
    bool did = false;
    for (uint32_t v = 0; v < kVcpus; ++v) {
      vcpus[v]->Enter();
      did |= vcpus[v]->DrainGuest();
      vcpus[v]->Exit();
      ++final_folds;
    }
    if (!did && s.vgic->in_flight() == 0) break;
  }
  EXPECT_EQ(s.late_calls.load(), late_calls_before_final);

  // --- the checks ---
  EXPECT_EQ(s.vgic->in_flight(), 0u) << s.seed << " after " << final_folds << " final folds";
  EXPECT_EQ(s.vgic->watched_in_flight(), 0u);
  for (uint32_t id = 0; id < kSpis; ++id) {
    absl::StatusOr<SpiSnapshotV5> snap = s.vgic->Snapshot(id);
    ASSERT_TRUE(snap.ok());
    EXPECT_TRUE(snap->in_flight == InFlight::kNo && !snap->pending_latch && !snap->line_level &&
                !snap->active)
        << "SPI " << id << ": in_flight=" << static_cast<int>(snap->in_flight)
        << " pending_latch=" << snap->pending_latch << " line_level=" << snap->line_level
        << " active=" << snap->active;
    EXPECT_EQ(snap->has_notifier, HasPermanentNotifier(id)) << "SPI " << id;
    const FakeGicv5Irs::SpiState hw = s.irs.State(kVm, id);
    EXPECT_FALSE(hw.pending || hw.active) << "SPI " << id << " in the IRS: pending=" << hw.pending
                                          << " active=" << hw.active;
    EXPECT_EQ(s.holder[id].load(), -1) << "SPI " << id << " still held by a guest";
    if (HasPermanentNotifier(id)) {
      const uint64_t n = s.notifications[id].load();
      const uint64_t injections = s.started[id].load();
      // Every injection can put it in flight at most once, every in-flight period ends in at
      // most one notification; and with nothing in flight, every period has ended.
      EXPECT_LE(n, injections) << s.seed << ": SPI " << id << " notified " << n
                               << " times for " << injections << " injections (a duplicate)";
      if (injections > 0) {
        EXPECT_GE(n, 1u) << s.seed << ": SPI " << id << " injected " << injections
                         << " times while watched and never notified";
      }
    }
  }
  for (uint32_t v = 0; v < kVcpus; ++v) {
    EXPECT_EQ(s.irs.ActivePriorities(kVm, static_cast<uint16_t>(v)), 0u) << "vPE " << v;
    EXPECT_TRUE(vcpus[v]->holds_nothing()) << "vPE " << v;
    for (uint32_t p : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, kLevelPpi}) {
      absl::StatusOr<std::pair<bool, bool>> st = s.vgic->PpiState(v, p);
      ASSERT_TRUE(st.ok());
      EXPECT_FALSE(st->first || st->second)
          << "vCPU " << v << " PPI " << p << ": pending=" << st->first << " active=" << st->second;
      if (p < kNumEdgePpis) {
        EXPECT_EQ(s.ppi_since_ack[v][p].load(), 0u)
            << "vCPU " << v << " PPI " << p << ": an edge injected and never taken (lost)";
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(s.pool_mu);
    EXPECT_TRUE(s.pool.empty());
  }
  EXPECT_EQ(s.late_calls.load(), 0u)
      << s.seed << ": a churn notifier ran after its RemoveDeactivationNotifier returned";
  EXPECT_EQ(s.notifiers_under_lock.load(), 0u) << "notifiers called with a vGIC lock held";
  EXPECT_EQ(s.unbound_notifier_calls.load(), 0u) << "notifiers on a thread that is no vCPU";
  EXPECT_EQ(s.platform.lock_violations(), 0u);
  EXPECT_EQ(s.irs.invalid_operands(), 0u);
  EXPECT_EQ(s.irs.ignored_deactivations(), 0u);

  const VgicV5Stats st = s.vgic->stats();
  uint64_t exits = 0, spi_acks = 0, ppi_acks = 0, level_notes = 0;
  for (const auto& r : vcpus) {
    exits += r->exits_;
    spi_acks += r->spi_acks_;
    ppi_acks += r->ppi_acks_;
  }
  for (uint32_t k = 0; k < kNumLevelSpis; ++k) {
    level_notes += s.notifications[kFirstLevelSpi + k].load();
  }
  std::cout << s.seed << ": " << threaded_s << " s threaded; edges " << s.edge_injections.load()
            << ", level raises " << s.level_raises.load() << ", lowers " << s.level_lowers.load()
            << ", resample re-injections " << s.resample_reinjects.load() << ", PPI edges "
            << s.ppi_injections.load() << "; exits " << exits << " (+" << final_folds
            << " final), SPI acks " << spi_acks << ", PPI acks " << ppi_acks
            << ", cross-vPE deactivations " << s.cross_deactivations.load()
            << "; churn: sets " << churn_sets.load() << ", waited " << churn_waited.load()
            << ", removed while running " << churn_removed_running.load() << ", notifications "
            << s.churn_notifications.load() << "; level notifications " << level_notes
            << "; vGIC: fold requests " << st.fold_requests << ", passes " << st.fold_passes
            << ", queries " << st.queries << ", pending writes " << st.pending_writes
            << ", deactivations " << st.deactivations << ", notifications " << st.notifications
            << ", line reasserts " << st.line_reasserts << ", extra passes " << st.extra_passes
            << std::endl;

  // The run reached what it is about.
  EXPECT_GT(s.resample_reinjects.load(), 0u);
  EXPECT_GT(s.cross_deactivations.load(), 0u);
  EXPECT_GT(level_notes, 0u);
  EXPECT_GT(s.churn_notifications.load(), 0u);
  EXPECT_GT(churn_removed_running.load(), 0u) << "no removal raced with a running notifier";
  EXPECT_GT(ppi_acks, 0u);
  s.platform.UnregisterVectorHandler(kProbeVector);
}

// Three consecutive seeds from IRQVIRT_STRESS_SEED (each reported; rerun one alone with it).
TEST(VgicV5ConcurrencyTest, VcpusDevicesResamplersAndNotifierChurn) {
  const uint64_t env_seed = irqvirt::testing::SeedFromEnv("IRQVIRT_STRESS_SEED", 20260611);
  const int runs = std::getenv("IRQVIRT_STRESS_SEED") != nullptr ? 1 : 3;
  for (int i = 0; i < runs; ++i) RunStress(env_seed + static_cast<uint64_t>(i));
}

// ------------------------------------------------------------------------- stampede

constexpr uint32_t kStampedeVcpus = 8;
constexpr uint32_t kStampedeSpis = 256;
constexpr uint32_t kWatchedSpi = 0;   // watched, edge, the guest's (vPE 0)
constexpr uint32_t kLingerSpi = 1;    // watched, level: its notifier holds a pass open
constexpr uint32_t kFirstQuietSpi = 2;  // 2..255: pending, disabled in the guest, never idle

struct Stampede {
  Stampede()
      : platform(kStampedeVcpus + 1, [](void*, uint32_t) {}, nullptr),
        irs(kIrsVms, kStampedeSpis),
        backend(irs) {
    auto created = TestVgicV5::Create(platform, {.num_vcpus = kStampedeVcpus,
                                                 .num_spis = kStampedeSpis,
                                                 .vm_id = kVm,
                                                 .irs = &backend});
    EXPECT_TRUE(created.ok()) << created.status();
    vgic = std::move(*created);
    EXPECT_TRUE(platform.RegisterVectorHandler(kProbeVector, &ProbeHandler, nullptr).ok());
    platform.BindCurrentThread(kStampedeVcpus);
    irs.GuestSetEnabled(kVm, kWatchedSpi, true);
    irs.GuestSetPriority(kVm, kWatchedSpi, 8);
    EXPECT_TRUE(vgic->SetDeactivationNotifier(kWatchedSpi, &Notify, this).ok());
    EXPECT_TRUE(vgic->ConfigureSpi(kLingerSpi, Trigger::kLevel).ok());
    EXPECT_TRUE(vgic->SetDeactivationNotifier(kLingerSpi, &Linger, this).ok());
    for (uint32_t id = kFirstQuietSpi; id < kStampedeSpis; ++id) {
      EXPECT_TRUE(vgic->Inject(id, true).ok());
    }
  }
  ~Stampede() { platform.UnregisterVectorHandler(kProbeVector); }

  // SPI 0 is pending, then acknowledged and priority-dropped: active, in flight, watched.
  void MakeWatchedActive() {
    EXPECT_TRUE(vgic->Inject(kWatchedSpi, true).ok());
    EXPECT_EQ(irs.Acknowledge(kVm, 0), std::optional<uint32_t>(kWatchedSpi));
    EXPECT_TRUE(irs.PriorityDrop(kVm, 0));
  }

  static void Notify(void* context, uint32_t id) {
    auto* s = static_cast<Stampede*>(context);
    if (id != kWatchedSpi) ADD_FAILURE() << "notified SPI " << id;
    if (!InterruptsOn(s->platform)) s->under_lock.fetch_add(1);
    s->notifications.fetch_add(1, std::memory_order_seq_cst);
  }

  // SPI 1's notifier: says it runs, then waits (bounded) until the round's deactivating vCPU
  // has made its exit, so that exit finds this pass running.
  static void Linger(void* context, uint32_t id) {
    auto* s = static_cast<Stampede*>(context);
    if (id != kLingerSpi) ADD_FAILURE() << "linger notifier called for SPI " << id;
    if (!InterruptsOn(s->platform)) s->under_lock.fetch_add(1);
    s->linger_entered.store(true, std::memory_order_seq_cst);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!s->deactivator_exited.load(std::memory_order_seq_cst) && !s->gave_up.load()) {
      if (std::chrono::steady_clock::now() > deadline) {
        s->linger_timeouts.fetch_add(1);
        s->gave_up.store(true);
        break;
      }
      std::this_thread::yield();
    }
  }

  ThreadedPlatform platform;
  FakeGicv5Irs irs;
  Backend backend;
  std::unique_ptr<TestVgicV5> vgic;
  std::atomic<uint64_t> notifications{0};
  std::atomic<uint64_t> under_lock{0};
  std::atomic<bool> linger_entered{false};
  std::atomic<bool> deactivator_exited{true};
  std::atomic<uint64_t> linger_timeouts{0};
  std::atomic<bool> gave_up{false};  // a wait for a pass timed out: the core makes none
};

// Eight vCPUs exiting in a loop with 256 SPIs in flight, one watched: every exit is counted,
// passes never outnumber exits, each pass queries the watched SPI and rarely a quiet one.
TEST(VgicV5ConcurrencyTest, FoldStampedeCoalescesRequests) {
  constexpr int kFoldsPerThread = 20000;
  Stampede s;
  s.MakeWatchedActive();  // never deactivated: every pass queries it and keeps it
  ASSERT_TRUE(s.vgic->Inject(kLingerSpi, true).ok());  // line high: in flight, never idle
  ASSERT_TRUE(s.vgic->RemoveDeactivationNotifier(kLingerSpi).ok());  // quiet
  ASSERT_EQ(s.vgic->in_flight(), kStampedeSpis);
  ASSERT_EQ(s.vgic->watched_in_flight(), 1u);
  const VgicV5Stats before = s.vgic->stats();
  {
    Watchdog watchdog(kWatchdogLimit, "stampede");
    std::barrier go(kStampedeVcpus);
    std::vector<std::thread> threads;
    for (uint32_t v = 0; v < kStampedeVcpus; ++v) {
      threads.emplace_back([&, v] {
        s.platform.BindCurrentThread(static_cast<int>(v));
        go.arrive_and_wait();
        for (int n = 0; n < kFoldsPerThread; ++n) {
          const absl::Status st = s.vgic->FoldSpis(v);
          if (!st.ok()) ADD_FAILURE() << st;
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const VgicV5Stats after = s.vgic->stats();
  const uint64_t requests = after.fold_requests - before.fold_requests;
  const uint64_t passes = after.fold_passes - before.fold_passes;
  std::cout << "stampede: " << kStampedeVcpus << " threads x " << kFoldsPerThread
            << " FoldSpis: " << requests << " requests, " << passes << " passes ("
            << 100.0 * static_cast<double>(passes) / static_cast<double>(requests)
            << "%), extra passes " << after.extra_passes - before.extra_passes << ", queries "
            << after.queries - before.queries << std::endl;
  EXPECT_EQ(requests, uint64_t{kStampedeVcpus} * kFoldsPerThread);
  EXPECT_LE(passes, requests);
  EXPECT_GT(passes, 0u) << "exits with SPIs in flight and no pass at all";
  // How much coalesces depends on how many exits overlap a pass (few on two cores);
  // ExitsQueuedBehindAPassCostOneMorePass pins it down.
  // Each pass queries the watched SPI; one in kQuietProbeInterval also probes a quiet one.
  EXPECT_GE(after.queries - before.queries, passes);
  EXPECT_LE(after.queries - before.queries, passes + passes / 8 + 1);
  EXPECT_EQ(s.notifications.load(), 0u);
  EXPECT_EQ(s.vgic->in_flight(), kStampedeSpis);
  EXPECT_EQ(s.under_lock.load(), 0u);
  EXPECT_EQ(s.platform.lock_violations(), 0u);
}

// "When FoldSpis returns, a pass that started after the call has run or is running": a guest
// deactivates the watched SPI 0 and its vCPU exits while another vCPU's pass is running and has
// already queried SPI 0 (it is dispatching SPI 1's notifier, which lingers until that exit has
// returned). Every vCPU exits in the round (a stampede). Once every FoldSpis call has
// returned, SPI 0's notification must have run, exactly once per deactivation.
TEST(VgicV5ConcurrencyTest, ExitAfterDeactivationIsServedDespiteARunningPass) {
  constexpr int kRounds = 400;
  const uint64_t env_seed = irqvirt::testing::SeedFromEnv("IRQVIRT_STRESS_SEED", 20260611);
  Stampede s;
  int unserved = 0, raced_rounds = 0, stuck_rounds = 0;
  {
    Watchdog watchdog(kWatchdogLimit, "served-exit");
    std::barrier go(kStampedeVcpus + 1);
    std::barrier done(kStampedeVcpus + 1);
    std::vector<std::thread> threads;
    for (uint32_t v = 0; v < kStampedeVcpus; ++v) {
      threads.emplace_back([&, v] {
        s.platform.BindCurrentThread(static_cast<int>(v));
        std::mt19937_64 rng(env_seed * 7919 + v);
        for (int round = 0; round < kRounds; ++round) {
          go.arrive_and_wait();
          if (static_cast<uint32_t>(round) % kStampedeVcpus == v) {
            // The deactivating vCPU: its guest deactivates SPI 0 while another vCPU's pass
            // (which has queried SPI 0 as active) dispatches SPI 1's notifier; then it exits.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!s.linger_entered.load(std::memory_order_seq_cst) && !s.gave_up.load()) {
              if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "round " << round << ": no pass dispatched SPI 1's notifier "
                              << "within 5 s (no more waiting in this run)";
                s.gave_up.store(true);
              }
              std::this_thread::yield();
            }
            s.irs.Deactivate(kVm, kWatchedSpi);
            EXPECT_TRUE(s.vgic->FoldSpis(v).ok());
            s.deactivator_exited.store(true, std::memory_order_seq_cst);
          } else {
            for (int n = 1 + static_cast<int>(rng() % 2); n > 0; --n) {
              EXPECT_TRUE(s.vgic->FoldSpis(v).ok());
            }
          }
          done.arrive_and_wait();
        }
      });
    }
    for (int round = 0; round < kRounds; ++round) {
      s.MakeWatchedActive();
      // SPI 1's line rises and falls: in flight, watched, idle: the next pass pops it.
      EXPECT_TRUE(s.vgic->Inject(kLingerSpi, true).ok());
      EXPECT_TRUE(s.vgic->Inject(kLingerSpi, false).ok());
      s.linger_entered.store(false);
      s.deactivator_exited.store(false);
      go.arrive_and_wait();
      done.arrive_and_wait();
      if (s.linger_entered.load()) ++raced_rounds;
      const uint64_t n = s.notifications.load(std::memory_order_seq_cst);
      if (n != static_cast<uint64_t>(round) + 1) {
        if (unserved++ < 5) {
          ADD_FAILURE() << "IRQVIRT_STRESS_SEED=" << env_seed << " round " << round
                        << ": every FoldSpis call has returned, yet " << n
                        << " notifications of SPI 0 after " << round + 1
                        << " deactivations (the deactivating vCPU's exit was not served)";
        }
        // Resynchronize: the next exit finds it idle.
        EXPECT_TRUE(s.vgic->FoldSpis(0).ok());
        s.notifications.store(static_cast<uint64_t>(round) + 1);
      }
      // SPI 1 must be gone too (its pass ran); if the line's pass never came, fold it away.
      for (int n = 0; s.vgic->watched_in_flight() != 0; ++n) {
        if (n == 100) {
          if (stuck_rounds++ == 0) {
            ADD_FAILURE() << "round " << round << ": " << s.vgic->watched_in_flight()
                          << " watched SPIs still in flight after 100 exits of one vCPU";
          }
          break;
        }
        EXPECT_TRUE(s.vgic->FoldSpis(0).ok());
      }
    }
    for (auto& t : threads) t.join();
  }
  const VgicV5Stats st = s.vgic->stats();
  std::cout << "served-exit: " << kRounds << " rounds (" << raced_rounds
            << " with the exit during a running pass), " << unserved << " unserved, "
            << "requests " << st.fold_requests << ", passes " << st.fold_passes << " (extra "
            << st.extra_passes << "), linger timeouts " << s.linger_timeouts.load()
            << std::endl;
  EXPECT_EQ(unserved, 0);
  EXPECT_EQ(stuck_rounds, 0);
  EXPECT_EQ(s.linger_timeouts.load(), 0u);
  EXPECT_GT(raced_rounds, kRounds / 2);
  EXPECT_EQ(s.under_lock.load(), 0u);
  EXPECT_EQ(s.vgic->in_flight(), kStampedeSpis - kFirstQuietSpi);
}

// An IRS that holds the first query of the next pass until `waiters` threads queue for the list
// lock (they exited after that pass started, so it may have missed what their guests did).
class HoldingIrs : public hw::Gicv5VirtualSpis {
 public:
  HoldingIrs(hw::Gicv5VirtualSpis& inner, ThreadedPlatform& platform)
      : inner_(inner), platform_(platform) {}
  uint64_t QuerySpi(uint16_t vm, uint32_t id) override {
    if (hold_for_.exchange(0) != 0) {
      holding_.store(true);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (platform_.lock_waiters() < waiters_ && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      held_ = platform_.lock_waiters() >= waiters_;
    }
    return inner_.QuerySpi(vm, id);
  }
  void SetSpiPending(uint16_t vm, uint32_t id, bool p) override { inner_.SetSpiPending(vm, id, p); }
  void HoldNextQueryFor(int waiters) {
    waiters_ = waiters;
    hold_for_.store(1);
  }
  bool held() const { return held_; }
  bool holding() const { return holding_.load(); }

 private:
  hw::Gicv5VirtualSpis& inner_;
  ThreadedPlatform& platform_;
  std::atomic<int> hold_for_{0};
  std::atomic<bool> holding_{false};
  int waiters_ = 0;
  bool held_ = false;
};

// Three vCPUs exit while vCPU 0's pass is querying: they queue for the list lock. The pass may
// have queried before their guests acted, so one of them runs one more pass; the other two find
// that pass started after their exits and return: four exits, two passes.
TEST(VgicV5ConcurrencyTest, ExitsQueuedBehindAPassCostOneMorePass) {
  constexpr int kLate = 3;
  ThreadedPlatform platform(kLate + 1, [](void*, uint32_t) {}, nullptr);
  FakeGicv5Irs irs(kIrsVms, 8);
  Backend backend(irs);
  HoldingIrs holding(backend, platform);
  auto created = TestVgicV5::Create(
      platform, {.num_vcpus = kLate + 1, .num_spis = 8, .vm_id = kVm, .irs = &holding});
  ASSERT_TRUE(created.ok()) << created.status();
  TestVgicV5& vgic = **created;
  platform.BindCurrentThread(0);
  ASSERT_TRUE(vgic.SetDeactivationNotifier(
                      0, [](void*, uint32_t) {}, nullptr)
                  .ok());
  ASSERT_TRUE(vgic.Inject(0, true).ok());  // pending for a vPE that takes nothing: never idle

  holding.HoldNextQueryFor(kLate);
  std::vector<std::thread> late;
  for (int v = 1; v <= kLate; ++v) {
    late.emplace_back([&, v] {
      platform.BindCurrentThread(v);
      while (!holding.holding()) std::this_thread::yield();  // vCPU 0's pass is querying
      EXPECT_TRUE(vgic.FoldSpis(static_cast<uint32_t>(v)).ok());
    });
  }
  ASSERT_TRUE(vgic.FoldSpis(0).ok());
  for (auto& t : late) t.join();
  EXPECT_TRUE(holding.held()) << "the late exits never queued behind the pass";
  const VgicV5Stats st = vgic.stats();
  EXPECT_EQ(st.fold_requests, uint64_t{kLate} + 1);
  EXPECT_EQ(st.fold_passes, 2u) << "the queued exits share one more pass";
  EXPECT_EQ(st.queries, 2u);
  EXPECT_EQ(platform.lock_violations(), 0u);
}

// No vCPU folds for the others for long: a folder runs its own pass and at most one more for
// the exits that came while it called notifiers; an exit during the notifiers of that last pass
// waits for them and folds itself. vCPU 0 folds: pass 1 pops SPI 1 (idle from the start), whose
// notifier has vCPU 1 exit (it returns at once, asking for another pass) and vPE 1's guest
// deactivate SPI 2; pass 2 (vCPU 0's last) pops SPI 2, whose notifier has vCPU 2 exit and waits
// until it waits, then vPE 1's guest deactivates SPI 3. vCPU 0 returns after two passes; SPI 3
// is popped by vCPU 2's own pass, on vCPU 2's thread.
struct HandoffStory {
  ThreadedPlatform platform{4, [](void*, uint32_t) {}, nullptr};
  FakeGicv5Irs irs{kIrsVms, 8};
  Backend backend{irs};
  std::unique_ptr<TestVgicV5> vgic;
  std::atomic<int> exit_of{-1};     // which vCPU thread should exit now
  std::atomic<int> exited{-1};      // the last vCPU whose FoldSpis returned
  std::atomic<int> notified_on[8];  // the CPU each SPI's notifier ran on
  std::atomic<bool> timed_out{false};

  template <typename Done>
  bool WaitFor(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        timed_out.store(true);
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }

  static void Notify(void* context, uint32_t id) {
    HandoffStory& x = *static_cast<HandoffStory*>(context);
    x.notified_on[id].store(x.platform.current_cpu());
    if (id == 1) {
      x.exit_of.store(1);
      x.WaitFor([&x] { return x.exited.load() == 1; });  // vCPU 1's exit returned at once
      x.irs.Deactivate(kVm, 2);
    } else if (id == 2) {
      x.exit_of.store(2);
      x.WaitFor([&x] { return x.vgic->fold_state().exits_waiting == 1; });
      x.irs.Deactivate(kVm, 3);
    }
  }
};

TEST(VgicV5ConcurrencyTest, AnExitDuringTheFoldersLastPassTakesTheFoldOver) {
  HandoffStory sh;
  for (auto& n : sh.notified_on) n.store(-1);
  auto created = TestVgicV5::Create(
      sh.platform, {.num_vcpus = 3, .num_spis = 8, .vm_id = kVm, .irs = &sh.backend});
  ASSERT_TRUE(created.ok()) << created.status();
  sh.vgic = std::move(*created);
  TestVgicV5& vgic = *sh.vgic;
  FakeGicv5Irs& irs = sh.irs;
  sh.platform.BindCurrentThread(0);
  for (uint32_t id = 1; id <= 3; ++id) {
    irs.GuestSetEnabled(kVm, id, true);
    irs.GuestSetTarget(kVm, id, 1);
    irs.GuestSetPriority(kVm, id, static_cast<uint8_t>(8 * id));
    ASSERT_TRUE(vgic.ConfigureSpi(id, Trigger::kLevel).ok());
    ASSERT_TRUE(vgic.SetDeactivationNotifier(id, &HandoffStory::Notify, &sh).ok());
  }
  ASSERT_TRUE(vgic.Inject(1, true).ok());
  ASSERT_TRUE(vgic.Inject(1, false).ok());  // withdrawn before the guest took it: idle
  for (uint32_t id : {2u, 3u}) {
    ASSERT_TRUE(vgic.Inject(id, true).ok());
    ASSERT_EQ(irs.Acknowledge(kVm, 1), std::optional<uint32_t>(id));
    ASSERT_TRUE(irs.PriorityDrop(kVm, 1));
    ASSERT_TRUE(vgic.Inject(id, false).ok());  // serviced: active until the guest deactivates
  }

  std::vector<std::thread> vcpus;
  for (int v = 1; v <= 2; ++v) {
    vcpus.emplace_back([&sh, v] {
      sh.platform.BindCurrentThread(v);
      if (!sh.WaitFor([&sh, v] { return sh.exit_of.load() == v; })) return;
      EXPECT_TRUE(sh.vgic->FoldSpis(static_cast<uint32_t>(v)).ok());
      sh.exited.store(v);
    });
  }
  ASSERT_TRUE(vgic.FoldSpis(0).ok());
  const int passes_when_vcpu0_returned = static_cast<int>(vgic.stats().fold_passes);
  for (auto& t : vcpus) t.join();

  EXPECT_FALSE(sh.timed_out.load()) << "a step of the story never happened (see the comment)";
  EXPECT_EQ(sh.notified_on[1].load(), 0);
  EXPECT_EQ(sh.notified_on[2].load(), 0) << "vCPU 0's second pass serves vCPU 1's exit";
  EXPECT_EQ(sh.notified_on[3].load(), 2) << "vCPU 2 took the fold over after that pass";
  EXPECT_GE(passes_when_vcpu0_returned, 2);
  const VgicV5Stats st = vgic.stats();
  EXPECT_EQ(st.fold_passes, 3u);
  EXPECT_EQ(st.waits, 1u);
  EXPECT_EQ(st.notifications, 3u);
  EXPECT_EQ(vgic.in_flight(), 0u);
  const TestVgicV5::FoldState fold = vgic.fold_state();
  EXPECT_FALSE(fold.dispatching || fold.requested || fold.exits_waiting != 0);
  EXPECT_EQ(fold.passes_started, 3u);
  EXPECT_EQ(sh.platform.lock_violations(), 0u);
}


}  // namespace
}  // namespace irqvirt::vgic
