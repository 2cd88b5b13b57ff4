// Seeded property test: thousands of random sequences of bind / unbind (remap) / rebind,
// load / put / block / unblock / migrate, device interrupts (bursts that overflow the GA log, a GA
// log CPU that is busy with interrupts off), CPU offline / online and injected command failures,
// with devices that keep firing while the driver waits for the IOMMU (the fake caches entries
// between the IRTE write and its invalidation, so those deliveries may combine a cached half with
// fresh fields), run against the whole stack on fakes and checked against a small reference model:
//   - every device interrupt ends in the IRR of the vCPU the model says it is bound to (and a
//     running vCPU's pCPU gets the doorbell); a remapped one reaches the host vector;
//   - an interrupt delivered while an operation waited for the IOMMU went where the IRTE pointed
//     before the operation, after it, or where the operation tried to point it: never a page,
//     vector or host destination the IRTE never named (no misdirected post);
//   - every vCPU that went to sleep and has a pending IRR has been woken, whenever the GA log
//     CPU can take interrupts;
//   - a failed operation changes nothing the model can see, and the router's own invariants hold.
// Seed: IRQVIRT_PROPERTY_SEED (the failing sequence's seed is printed).
#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/common/seed.h"
#include "tests/posted/posted_harness.h"

namespace irqvirt::posted::testing {
namespace {

using hw::fake::DeliveryKind;
using wakeup::BlockDecision;

constexpr int kCpus = 4;
constexpr uint32_t kVcpus = 6;
constexpr uint16_t kIrtes = 10;
constexpr uint16_t kDev = 0x30;
constexpr int kSequences = 1500;  // per mode
constexpr int kOpsPerSequence = 60;

enum class St { kIdle, kRunning, kSleeping, kBlockedAwake };

struct ModelVcpu {
  St st = St::kIdle;
  int cpu = -1;
  uint64_t wakes_at_sleep = 0;
};

struct ModelIrte {
  int vcpu = -1;  // bound to
  uint8_t vector = 0;
  bool remapped = false;
  uint8_t host_vector = 0;
  uint32_t host_apic = 0;
};

class Sequence {
 public:
  Sequence(bool gappi, uint64_t seed) : rng_(seed), seed_(seed), gappi_(gappi) {
    HarnessOptions o = gappi ? GappiOptions() : HarnessOptions{};
    o.num_cpus = kCpus;
    o.max_vcpus = kVcpus;
    o.vectors_per_cpu = gappi ? 2 : 1;
    stack_ = std::make_unique<LogicalStack>(o);
  }

  // Returns "" or what went wrong.
  std::string Run() {
    if (auto s = h().Init(platform()); !s.ok()) return s.ToString();
    if (auto s = h().iommu().AttachDevice(kDev); !s.ok()) return s.ToString();
    if (auto s = h().AddVcpus(kVcpus); !s.ok()) return s.ToString();
    online_.assign(kCpus, true);
    if (Chance(0.75)) {  // most sequences: some devices keep firing during every command wait
      std::vector<uint32_t> firing;
      for (uint16_t i = 0; i < kIrtes; ++i) {
        if (Chance(0.3)) firing.push_back(i);
      }
      h().fake().FireDuringCommandWaits(kDev, firing);
    }
    for (int op = 0; op < kOpsPerSequence && error_.empty(); ++op) {
      ModelIrte before[kIrtes];
      std::copy(std::begin(irtes_), std::end(irtes_), std::begin(before));
      attempt_index_ = -1;
      Step();
      h().fake().DropCompletionStores(0);
      CheckCommandWaitDeliveries(before);
      CheckWakeups();
    }
    if (error_.empty()) {
      SetGaLogCpuMasked(false);
      CheckWakeups();
    }
    if (error_.empty()) {
      if (auto s = h().router().CheckInvariants(); !s.ok()) Fail(s.ToString());
    }
    if (error_.empty() && !platform().violations().empty()) Fail(platform().violations().front());
    return error_;
  }

 private:
  PostedHarness<>& h() { return stack_->harness; }
  hw::fake::LogicalPlatform& platform() { return stack_->platform; }
  PostedRouter<hw::fake::LogicalPlatform>& router() { return h().router(); }
  uint32_t Rand(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = absl::StrFormat("seed %#x (%s): %s", seed_, gappi_ ? "GAPPI" : "GA log", what);
    if (tracing_) {
      for (const std::string& line : trace_) error_ += "\n  " + line;
    }
  }
  // IRQVIRT_PROPERTY_TRACE=1: a failure lists the sequence's operations.
  template <typename... Args>
  void Trace(const absl::FormatSpec<Args...>& format, const Args&... args) {
    if (tracing_) trace_.push_back(absl::StrFormat(format, args...));
  }
  int OnlineCpu() {
    for (;;) {
      const int c = static_cast<int>(Rand(kCpus));
      if (online_[c]) return c;
    }
  }
  void MaybeInject() {
    if (Chance(0.2)) h().fake().DropCompletionStores(1, Rand(2));
  }
  void SetGaLogCpuMasked(bool masked) {
    ga_log_masked_ = masked;
    platform().SetIrqsDisabled(kGaLogCpu, masked);
  }

  void Step() {
    const uint32_t op = Rand(100);
    const VcpuId v = Rand(kVcpus);
    const uint16_t index = static_cast<uint16_t>(Rand(kIrtes));
    static constexpr const char* kNames[] = {"bind", "remap", "load",         "put",   "block",
                                             "fire", "burst", "hotplug/mask", "unmask"};
    static constexpr uint32_t kEnds[] = {12, 16, 34, 44, 58, 88, 92, 97, 100};
    const size_t which =
        std::upper_bound(std::begin(kEnds), std::end(kEnds), op) - std::begin(kEnds);
    Trace("%s vCPU %u IRTE %u (vCPU %u: IRR %d, wakes %u)", kNames[which], v, index, v,
          h().AnyIrr(v), platform().wake_count(v));
    if (op < 12) return Bind(index, v);
    if (op < 16) return Remap(index);
    if (op < 34) return Load(v);
    if (op < 44) return Put(v);
    if (op < 58) return Block(v);
    if (op < 88) return Fire(index);
    if (op < 92) return Burst(index);
    if (op < 97) return gappi_ ? Hotplug() : SetGaLogCpuMasked(!ga_log_masked_);
    SetGaLogCpuMasked(false);
  }

  void Bind(uint16_t index, VcpuId v) {
    const uint8_t vector = static_cast<uint8_t>(0x20 + Rand(0xd0));
    Attempt(index, ModelIrte{static_cast<int>(v), vector});
    MaybeInject();
    const absl::Status s = router().Bind({kDev, index}, v, vector);
    if (s.ok()) {
      irtes_[index] = ModelIrte{static_cast<int>(v), vector};
    }
    const int64_t owner = router().OwnerOf({kDev, index});
    if (owner != irtes_[index].vcpu) {
      Fail(absl::StrFormat("bind IRTE %u -> vCPU %u (%s): owner %d, model %d", index, v,
                           s.ToString(), owner, irtes_[index].vcpu));
    }
  }

  void Remap(uint16_t index) {
    const uint8_t vector = static_cast<uint8_t>(0x80 + Rand(0x70));
    const uint32_t apic = platform().apic_id(OnlineCpu());
    Attempt(index, ModelIrte{-1, 0, true, vector, apic});
    MaybeInject();
    if (router().Remap({kDev, index}, vector, apic).ok()) {
      irtes_[index] = ModelIrte{-1, 0, true, vector, apic};
    }
    if (router().OwnerOf({kDev, index}) != irtes_[index].vcpu) Fail("remap changed ownership wrongly");
  }

  void Load(VcpuId v) {
    const int cpu = OnlineCpu();
    MaybeInject();  // a GAPPIDis update may fail: Load still succeeds
    const RouteError e = router().Load(v, cpu);
    if (!e.ok()) return Fail("load: " + e.ToStatus().ToString());
    vcpus_[v] = ModelVcpu{St::kRunning, cpu};
    h().DrainIrr(v);  // the guest runs and takes what was pending
  }

  void Put(VcpuId v) {
    if (!router().Put(v).ok()) return Fail("put failed");
    if (vcpus_[v].st == St::kRunning) vcpus_[v].st = St::kIdle;
  }

  void Block(VcpuId v) {
    ModelVcpu& m = vcpus_[v];
    if (m.st != St::kIdle && m.st != St::kRunning) return;
    const int cpu = m.st == St::kRunning ? m.cpu : OnlineCpu();
    MaybeInject();
    const BlockOutcome b = router().Block(v, cpu);
    if (!b.error.ok()) {
      if (!gappi_) Fail("GA log block failed: " + b.error.ToStatus().ToString());
      if (b.decision != BlockDecision::kNotParked) Fail("failed block reported a decision");
      return;  // unchanged
    }
    if (b.decision == BlockDecision::kSleep) {
      if (h().AnyIrr(v)) Fail(absl::StrFormat("vCPU %u told to sleep with an IRR pending", v));
      m.st = St::kSleeping;
      m.wakes_at_sleep = platform().wake_count(v);
    } else if (b.decision == BlockDecision::kPendingDontSleep) {
      if (!h().AnyIrr(v)) Fail(absl::StrFormat("vCPU %u told not to sleep with nothing pending", v));
      m.st = St::kBlockedAwake;
    } else {
      Fail("block: not parked without an error");
    }
  }

  void Fire(uint16_t index) {
    const ModelIrte& m = irtes_[index];
    const hw::fake::Delivery d = h().Fire({kDev, index});
    if (m.vcpu < 0 && !m.remapped) {
      if (d.kind != DeliveryKind::kFault) Fail(absl::StrFormat("IRTE %u never programmed but delivered", index));
      return;
    }
    if (m.remapped) {
      if (d.kind != DeliveryKind::kRemapped || d.vector != m.host_vector || d.apic_id != m.host_apic) {
        Fail(absl::StrFormat("IRTE %u remapped to %#x@%u, delivered kind %d %#x@%u", index,
                             m.host_vector, m.host_apic, static_cast<int>(d.kind), d.vector, d.apic_id));
      }
      return;
    }
    const VcpuId v = static_cast<VcpuId>(m.vcpu);
    if (!h().IrrSet(v, m.vector)) {
      Fail(absl::StrFormat("IRTE %u: vector %#x not in vCPU %u's IRR (delivery kind %d to page %#x)",
                           index, m.vector, v, static_cast<int>(d.kind), d.vapic_page_pa));
    }
    for (VcpuId other = 0; other < kVcpus; ++other) {
      if (other != v && d.vapic_page_pa == h().page_pa(other)) Fail("posted into another vCPU's page");
    }
    if (vcpus_[v].st == St::kRunning &&
        (d.kind != DeliveryKind::kDoorbell || d.apic_id != platform().apic_id(vcpus_[v].cpu))) {
      Fail(absl::StrFormat("running vCPU %u on CPU %d: no doorbell there", v, vcpus_[v].cpu));
    }
  }

  void Burst(uint16_t index) {
    for (int i = 0; i < 520 && error_.empty(); ++i) Fire(index);
  }

  // GAPPI mode: a CPU (never CPU 0) goes offline or comes back. Running vCPUs leave it first.
  void Hotplug() {
    const int cpu = 1 + static_cast<int>(Rand(kCpus - 1));
    if (online_[cpu]) {
      for (VcpuId v = 0; v < kVcpus; ++v) {
        if (vcpus_[v].st == St::kRunning && vcpus_[v].cpu == cpu) Put(v);
      }
      auto moved = router().OfflineCpu(cpu);
      if (!moved.ok()) return;  // e.g. the last online CPU
      platform().SetOnline(cpu, false);
      online_[cpu] = false;
    } else {
      platform().SetOnline(cpu, true);
      if (auto s = router().OnlineCpu(cpu); !s.ok()) return Fail(s.ToString());
      online_[cpu] = true;
    }
  }

  // What an operation tries to make of an IRTE (what the device may see while it waits).
  void Attempt(uint16_t index, const ModelIrte& target) {
    attempt_index_ = index;
    attempt_ = target;
  }

  // Whether delivery `d` is one the IOMMU can make from IRTE states `states` (what the entry was,
  // is, or was being made), given that it caches an entry between its write and the invalidation:
  // the cached fields (format, vector, vAPIC root pointer) come from one fetched state, and the
  // fresh ones (destination, IsRun, tag) may come from another.
  bool DeliveryPossible(std::initializer_list<const ModelIrte*> states,
                        const hw::fake::Delivery& d) {
    bool any_guest = false;
    for (const ModelIrte* m : states) any_guest |= m->vcpu >= 0;
    for (const ModelIrte* m : states) {
      if (m->vcpu < 0 && !m->remapped) {
        if (d.kind == DeliveryKind::kFault) return true;
        continue;
      }
      if (m->remapped) {
        if (d.kind != DeliveryKind::kRemapped || d.vector != m->host_vector) continue;
        if (any_guest) return true;  // destination read fresh from a guest-mode entry
        for (const ModelIrte* fresh : states) {
          const uint32_t destination = fresh->remapped ? fresh->host_apic : 0;  // zeroed entry
          if (destination == d.apic_id) return true;
        }
        continue;
      }
      if (d.kind == DeliveryKind::kFault || d.kind == DeliveryKind::kRemapped) continue;
      const bool vector_ok = d.kind == DeliveryKind::kGappi || d.vector == m->vector;  // GAPPI: tag
      if (vector_ok && d.vapic_page_pa == h().page_pa(static_cast<VcpuId>(m->vcpu))) return true;
    }
    return false;
  }

  std::string Describe(const ModelIrte& m) {
    if (m.remapped) return absl::StrFormat("remapped %#x@%u", m.host_vector, m.host_apic);
    if (m.vcpu < 0) return "unprogrammed";
    return absl::StrFormat("vCPU %d vector %#x page %#x", m.vcpu, m.vector,
                           h().page_pa(static_cast<VcpuId>(m.vcpu)));
  }

  void CheckCommandWaitDeliveries(const ModelIrte (&before)[kIrtes]) {
    for (const auto& [index, d] : h().fake().TakeCommandWaitDeliveries()) {
      Trace("  during a wait: IRTE %u kind %d vector %#x page %#x APIC %u", index,
            static_cast<int>(d.kind), d.vector, d.vapic_page_pa, d.apic_id);
      const bool attempted = attempt_index_ == static_cast<int>(index);
      const bool ok = DeliveryPossible(
          {&before[index], &irtes_[index], attempted ? &attempt_ : &irtes_[index]}, d);
      if (!ok) {
        Fail(absl::StrFormat(
            "IRTE %u fired during a command wait: delivery kind %d, vector %#x, page %#x, APIC %u "
            "matches neither its state before (%s), after (%s) nor the attempted one (%s)",
            index, static_cast<int>(d.kind), d.vector, d.vapic_page_pa, d.apic_id,
            Describe(before[index]), Describe(irtes_[index]),
            attempt_index_ == static_cast<int>(index) ? Describe(attempt_) : "none"));
      }
    }
  }

  void CheckWakeups() {
    if (ga_log_masked_) return;  // the GA log interrupt is latched, not lost
    for (VcpuId v = 0; v < kVcpus; ++v) {
      ModelVcpu& m = vcpus_[v];
      if (m.st != St::kSleeping) continue;
      if (platform().wake_count(v) > m.wakes_at_sleep) {
        m.st = St::kBlockedAwake;  // woken; it will be loaded
      } else if (h().AnyIrr(v)) {
        Fail(absl::StrFormat("vCPU %u sleeps with an IRR pending and was never woken", v));
      }
    }
  }

  std::mt19937_64 rng_;
  const uint64_t seed_;
  const bool gappi_;
  std::unique_ptr<LogicalStack> stack_;
  ModelVcpu vcpus_[kVcpus];
  ModelIrte irtes_[kIrtes];
  int attempt_index_ = -1;  // the IRTE the current operation tries to change, if any
  ModelIrte attempt_;
  std::vector<bool> online_;
  bool ga_log_masked_ = false;
  std::string error_;
  const bool tracing_ = std::getenv("IRQVIRT_PROPERTY_TRACE") != nullptr;
  std::vector<std::string> trace_;
};

class PropertyTest : public ::testing::TestWithParam<bool> {};

TEST_P(PropertyTest, RandomSequencesMatchTheReferenceModel) {
  const uint64_t base = irqvirt::testing::SeedFromEnv("IRQVIRT_PROPERTY_SEED", 20261121) ^ (GetParam() ? 0x9a991 : 0);
  for (int i = 0; i < kSequences; ++i) {
    Sequence sequence(GetParam(), base + i);
    const std::string error = sequence.Run();
    ASSERT_EQ(error, "") << "reproduce with IRQVIRT_PROPERTY_SEED and this sequence's seed";
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PropertyTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Gappi" : "GaLog"; });

}  // namespace
}  // namespace irqvirt::posted::testing
