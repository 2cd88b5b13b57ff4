// SPDX-License-Identifier: MIT
// Seeded property test, one reference model for both IOMMUs: thousands of random sequences of
// bind / unbind (remap) / rebind, load / put / block / unblock / migrate, device interrupts
// (bursts that overflow the GA log, a GA log CPU that is busy with interrupts off), CPU offline /
// online and injected command failures, with devices that keep firing while the driver waits for
// the IOMMU (the fakes cache entries between the IRTE write and its invalidation), run against
// the whole stack on fakes and checked against a small reference model:
//   - every device interrupt is posted to the vCPU the model says it is bound to (its vAPIC IRR on
//     AMD, its descriptor's PIR on VT-d), and a running vCPU's pCPU is notified (a doorbell; the
//     posted vector unless a notification is still outstanding); a remapped one reaches the host
//     vector;
//   - an interrupt delivered while an operation waited for the IOMMU went where the IRTE pointed
//     before the operation, after it, or where the operation tried to point it: never a page,
//     descriptor, vector or host destination the IRTE never named (no misdirected post);
//   - every vCPU that went to sleep with an interrupt pending has been woken, whenever the CPU
//     that must see the notification can take interrupts;
//   - a failed operation changes nothing the model can see, and the router's own invariants hold.
// What differs per IOMMU sits in the stacks below: how a delivery is observed, what the unit
// caches (AMD: a half-cached entry may combine a cached vector/page with a fresh destination;
// VT-d: the whole entry is cached), which failures can be injected, and what "pending" means.
// Seed: IRQVIRT_PROPERTY_SEED (the failing sequence's seed is printed).
#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/common/seed.h"
#include "tests/posted/posted_harness.h"
#include "tests/posted/vtd_harness.h"

namespace irqvirt::posted::testing {
namespace {

using wakeup::BlockDecision;

constexpr int kCpus = 4;
constexpr uint32_t kVcpus = 6;
constexpr uint16_t kIrtes = 10;
constexpr uint16_t kDev = 0x30;
constexpr int kSequences = 1500;  // per IOMMU mode
constexpr int kOpsPerSequence = 60;

// A delivery as the model sees it, whichever IOMMU made it.
struct Seen {
  enum class Kind : uint8_t { kFault, kRemapped, kPosted };
  Kind kind = Kind::kFault;
  uint8_t vector = 0;        // remapped: the host vector; posted: the guest vector
  bool vector_known = true;  // false: a GAPPI notification names the vCPU, not the vector
  uint32_t apic_id = 0;      // remapped: the destination; notified: where the notification went
  uint64_t target_pa = 0;    // posted: the vAPIC page (AMD) or PI descriptor (VT-d) written
  bool running_notification = false;  // the notice a running vCPU's CPU takes: doorbell / NV
  std::string raw;                    // the vendor's own account, for messages
};

// What both stacks do alike over their harnesses: fire the device's IRTEs, now or while the
// driver waits for the IOMMU, and observe each delivery through Derived::Observe.
template <typename Derived, typename Logical>
class FakeStackBase {
 public:
  hw::fake::LogicalPlatform& platform() { return stack_.platform; }
  auto& router() { return h().router(); }
  Seen Fire(uint16_t index) { return Derived::Observe(h().Fire({kDev, index})); }
  void FireDuringCommandWaits(std::vector<uint32_t> indices) {
    h().fake().FireDuringCommandWaits(kDev, std::move(indices));
  }
  std::vector<std::pair<uint32_t, Seen>> TakeCommandWaitDeliveries() {
    std::vector<std::pair<uint32_t, Seen>> out;
    for (const auto& [index, d] : h().fake().TakeCommandWaitDeliveries()) {
      out.emplace_back(index, Derived::Observe(d));
    }
    return out;
  }

 protected:
  template <typename Options>
  explicit FakeStackBase(const Options& options) : stack_(options) {}
  auto& h() { return stack_.harness; }
  const auto& h() const { return stack_.harness; }

 private:
  Logical stack_;
};

// The AMD stack: vAPIC pages, GA log or GAPPI, completion-wait stores dropped to inject failures.
class AmdModelStack : public FakeStackBase<AmdModelStack, LogicalStack> {
 public:
  static constexpr bool kFreshDestinationWithCachedVector = true;  // half-cached IRTEs

  explicit AmdModelStack(bool gappi)
      : FakeStackBase([gappi] {
          HarnessOptions o = gappi ? GappiOptions() : HarnessOptions{};
          o.num_cpus = kCpus;
          o.max_vcpus = kVcpus;
          o.vectors_per_cpu = gappi ? 2 : 1;
          return o;
        }()),
        gappi_(gappi) {}

  const char* name() const { return gappi_ ? "GAPPI" : "GA log"; }
  bool has_ga_log() const { return !gappi_; }
  bool block_can_fail() const { return gappi_; }  // GAPPI: block writes GAPPIDis
  absl::Status Init() {
    if (auto s = h().Init(platform()); !s.ok()) return s;
    if (auto s = h().iommu().AttachDevice(kDev); !s.ok()) return s;
    return h().AddVcpus(kVcpus);
  }
  // `choice` < kInjectionChoices: which of the next two completion stores is dropped.
  static constexpr uint32_t kInjectionChoices = 2;
  void InjectFailure(uint32_t choice) { h().fake().DropCompletionStores(1, choice); }
  void Disarm() { h().fake().DropCompletionStores(0); }

  bool Posted(VcpuId v, uint8_t vector) const { return h().IrrSet(v, vector); }
  bool Pending(VcpuId v) const { return h().AnyIrr(v); }
  void Consume(VcpuId v) { h().DrainIrr(v); }
  uint64_t target_pa(VcpuId v) const { return h().page_pa(v); }
  bool NotificationOutstanding(VcpuId) const { return false; }  // a doorbell per interrupt
  bool NotifiesRunningOn(VcpuId, int) const { return false; }   // (never asked: see above)
  void GuestTakesNotification(VcpuId) {}  // the IRR stays until the next load drains it
  std::string CheckLoadedPending(VcpuId) const { return ""; }  // the IRR is the vIRR itself
  std::vector<std::string> FakeViolations() { return {}; }

  static Seen Observe(const hw::fake::Delivery& d) {
    using hw::fake::DeliveryKind;
    Seen s;
    s.raw = absl::StrFormat("AMD kind %d vector %#x page %#x APIC %u", static_cast<int>(d.kind),
                            d.vector, d.vapic_page_pa, d.apic_id);
    switch (d.kind) {
      case DeliveryKind::kFault:
        return s;
      case DeliveryKind::kRemapped:
        s.kind = Seen::Kind::kRemapped;
        s.vector = d.vector;
        s.apic_id = d.apic_id;
        return s;
      default:
        s.kind = Seen::Kind::kPosted;
        s.vector = d.vector;
        s.vector_known = d.kind != DeliveryKind::kGappi;  // GAPPI sends the tag's vector
        s.target_pa = d.vapic_page_pa;
        s.running_notification = d.kind == DeliveryKind::kDoorbell;
        s.apic_id = d.apic_id;
        return s;
    }
  }

 private:
  const bool gappi_;
};

// The VT-d stack: PI descriptors, wakeup vectors, invalidation-wait failures (a dropped store
// times the driver out; an ITE or an IQE stops the queue).
class VtdModelStack : public FakeStackBase<VtdModelStack, VtdLogicalStack> {
 public:
  static constexpr bool kFreshDestinationWithCachedVector = false;  // the whole entry is cached

  explicit VtdModelStack(bool)
      : FakeStackBase([] {
          VtdHarnessOptions o;
          o.num_cpus = kCpus;
          o.max_vcpus = kVcpus;
          o.vectors_per_cpu = 2;
          return o;
        }()) {}

  const char* name() const { return "VT-d"; }
  bool has_ga_log() const { return false; }
  bool block_can_fail() const { return false; }  // a block changes only the descriptor
  absl::Status Init() {
    if (auto s = h().Init(platform()); !s.ok()) return s;
    return h().AddVcpus(kVcpus);
  }
  // `choice` < kInjectionChoices: the write's invalidation wait times out (ITE), its IEC flush
  // is refused (IQE), its wait store never comes, or the wait times out and then the rollback's
  // flush is refused (descriptors: flush, wait, rollback flush), so the unit may keep using the
  // new entry; the model allows that until the next successful write of the entry.
  static constexpr uint32_t kInjectionChoices = 4;
  void InjectFailure(uint32_t choice) {
    switch (choice) {
      case 0:
        h().fake().TimeOutNextWait();
        break;
      case 1:
        h().fake().RefuseNextDescriptor();
        break;
      case 2:
        h().fake().DropWaitStores(1);
        break;
      default:
        h().fake().TimeOutNextWait();
        h().fake().RefuseNextDescriptor(/*skip=*/2);
        break;
    }
  }
  void Disarm() { h().fake().ClearFaultInjection(); }

  bool Posted(VcpuId v, uint8_t vector) const { return h().PirSet(v, vector); }
  bool Pending(VcpuId v) const { return h().control(v).on() != 0 || !h().PirEmpty(v); }
  void Consume(VcpuId v) { h().DrainPir(v); }
  uint64_t target_pa(VcpuId v) const { return h().desc_pa(v); }
  // ON set: the unit sends no new notification until the CPU (or the embedder's sync) clears it.
  bool NotificationOutstanding(VcpuId v) const { return h().control(v).on() != 0; }
  // With ON set no new notification is owed, but the descriptor must still say where one goes.
  bool NotifiesRunningOn(VcpuId v, int cpu) const {
    const hw::intel::PiControl c = h().control(v);
    return c.sn() == 0 && c.nv() == kVtdPostedVector && c.ndst() == h().Ndst(cpu);
  }
  // The CPU in guest mode takes the posted vector: clears ON and moves PIR into the vIRR.
  void GuestTakesNotification(VcpuId v) { h().DrainPir(v); }
  // The embedder syncs PIR into the vIRR before entry only when ON is set (§7e): a PIR bit
  // without ON after a load would wait for the next notification.
  std::string CheckLoadedPending(VcpuId v) const {
    if (h().PirEmpty(v) || h().control(v).on() != 0) return "";
    return absl::StrFormat("vCPU %u loaded with PIR bits but ON clear", v);
  }
  std::vector<std::string> FakeViolations() { return h().fake().violations(); }

  static Seen Observe(const hw::fake::VtdDelivery& d) {
    using hw::fake::VtdDeliveryKind;
    Seen s;
    s.raw = absl::StrFormat("VT-d kind %d vector %#x NV %#x descriptor %#x APIC %u",
                            static_cast<int>(d.kind), d.vector, d.notification_vector, d.pi_desc_pa,
                            d.apic_id);
    switch (d.kind) {
      case VtdDeliveryKind::kFault:
        return s;
      case VtdDeliveryKind::kRemapped:
        s.kind = Seen::Kind::kRemapped;
        s.vector = d.vector;
        s.apic_id = d.apic_id;
        return s;
      case VtdDeliveryKind::kPostedNotified:
      case VtdDeliveryKind::kPostedQuiet:
        s.kind = Seen::Kind::kPosted;
        s.vector = d.vector;
        s.target_pa = d.pi_desc_pa;
        s.running_notification =
            d.kind == VtdDeliveryKind::kPostedNotified && d.notification_vector == kVtdPostedVector;
        s.apic_id = d.apic_id;
        return s;
    }
    return s;
  }
};

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

// What the sequences exercised: a run that never reached these would prove little.
struct Coverage {
  uint64_t wait_deliveries = 0;   // device interrupts while the driver waited for the IOMMU
  uint64_t stale_deliveries = 0;  // ... of them, made from an entry the IRTE no longer holds
  uint64_t failed_writes = 0;     // bind / remap refused by an injected command failure
  uint64_t rollbacks_unflushed = 0;   // ... of them, with the rollback's flush failing too
  uint64_t lingering_deliveries = 0;  // interrupts the failed write's cached entry delivered
  uint64_t sleeps = 0;
  uint64_t woken = 0;
  Coverage& operator+=(const Coverage& o) {
    wait_deliveries += o.wait_deliveries;
    stale_deliveries += o.stale_deliveries;
    failed_writes += o.failed_writes;
    rollbacks_unflushed += o.rollbacks_unflushed;
    lingering_deliveries += o.lingering_deliveries;
    sleeps += o.sleeps;
    woken += o.woken;
    return *this;
  }
};

template <typename Stack>
class Sequence {
 public:
  Sequence(bool variant, uint64_t seed) : rng_(seed), seed_(seed), stack_(variant) {}

  // Returns "" or what went wrong.
  std::string Run() {
    if (auto s = stack_.Init(); !s.ok()) return s.ToString();
    online_.assign(kCpus, true);
    if (Chance(0.75)) {  // most sequences: some devices keep firing during every command wait
      std::vector<uint32_t> firing;
      for (uint16_t i = 0; i < kIrtes; ++i) {
        if (Chance(0.3)) firing.push_back(i);
      }
      stack_.FireDuringCommandWaits(firing);
    }
    for (int op = 0; op < kOpsPerSequence && error_.empty(); ++op) {
      ModelIrte before[kIrtes];
      std::copy(std::begin(irtes_), std::end(irtes_), std::begin(before));
      std::optional<ModelIrte> lingering_before[kIrtes];
      std::copy(std::begin(lingering_), std::end(lingering_), std::begin(lingering_before));
      attempt_index_ = -1;
      Step();
      stack_.Disarm();
      CheckCommandWaitDeliveries(before, lingering_before);
      CheckWakeups();
    }
    if (error_.empty()) {
      SetGaLogCpuMasked(false);
      CheckWakeups();
    }
    if (error_.empty()) {
      if (auto s = router().CheckInvariants(); !s.ok()) Fail(s.ToString());
    }
    if (error_.empty() && !platform().violations().empty()) Fail(platform().violations().front());
    if (error_.empty() && !stack_.FakeViolations().empty()) Fail(stack_.FakeViolations().front());
    return error_;
  }
  const Coverage& coverage() const { return coverage_; }

 private:
  hw::fake::LogicalPlatform& platform() { return stack_.platform(); }
  auto& router() { return stack_.router(); }
  uint32_t Rand(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = absl::StrFormat("seed %#x (%s): %s", seed_, stack_.name(), what);
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
    if (Chance(0.2)) stack_.InjectFailure(Rand(Stack::kInjectionChoices));
  }
  void SetGaLogCpuMasked(bool masked) {
    if (!stack_.has_ga_log()) return;
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
    Trace("%s vCPU %u IRTE %u (vCPU %u: pending %d, wakes %u)", kNames[which], v, index, v,
          stack_.Pending(v), platform().wake_count(v));
    if (op < 12) return Bind(index, v);
    if (op < 16) return Remap(index);
    if (op < 34) return Load(v);
    if (op < 44) return Put(v);
    if (op < 58) return Block(v);
    if (op < 88) return Fire(index);
    if (op < 92) return Burst(index);
    if (op < 97) return stack_.has_ga_log() ? SetGaLogCpuMasked(!ga_log_masked_) : Hotplug();
    SetGaLogCpuMasked(false);
  }

  void Bind(uint16_t index, VcpuId v) {
    const uint8_t vector = static_cast<uint8_t>(0x20 + Rand(0xd0));
    Attempt(index, ModelIrte{static_cast<int>(v), vector});
    MaybeInject();
    const absl::Status s = router().Bind({kDev, index}, v, vector);
    if (s.ok()) {
      irtes_[index] = ModelIrte{static_cast<int>(v), vector};
    } else {
      ++coverage_.failed_writes;
    }
    NoteWriteOutcome(index, s);
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
    const absl::Status s = router().Remap({kDev, index}, vector, apic);
    if (s.ok()) {
      irtes_[index] = ModelIrte{-1, 0, true, vector, apic};
    } else {
      ++coverage_.failed_writes;
    }
    NoteWriteOutcome(index, s);
    if (router().OwnerOf({kDev, index}) != irtes_[index].vcpu) Fail("remap changed ownership wrongly");
  }

  void Load(VcpuId v) {
    const int cpu = OnlineCpu();
    MaybeInject();  // AMD: a GAPPIDis update may fail, and Load still succeeds
    const RouteError e = router().Load(v, cpu);
    if (!e.ok()) return Fail("load: " + e.ToStatus().ToString());
    vcpus_[v] = ModelVcpu{St::kRunning, cpu};
    if (std::string e = stack_.CheckLoadedPending(v); !e.empty()) return Fail(e);
    stack_.Consume(v);  // the guest runs and takes what was pending
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
      if (!stack_.block_can_fail()) Fail("block failed: " + b.error.ToStatus().ToString());
      if (b.decision != BlockDecision::kNotParked) Fail("failed block reported a decision");
      return;  // unchanged
    }
    if (b.decision == BlockDecision::kSleep) {
      if (stack_.Pending(v))
        Fail(absl::StrFormat("vCPU %u told to sleep with an interrupt pending", v));
      m.st = St::kSleeping;
      m.wakes_at_sleep = platform().wake_count(v);
      ++coverage_.sleeps;
    } else if (b.decision == BlockDecision::kPendingDontSleep) {
      if (!stack_.Pending(v))
        Fail(absl::StrFormat("vCPU %u told not to sleep with nothing pending", v));
      m.st = St::kBlockedAwake;
    } else {
      Fail("block: not parked without an error");
    }
  }

  void Fire(uint16_t index) {
    const ModelIrte& m = irtes_[index];
    const bool outstanding =
        m.vcpu >= 0 && stack_.NotificationOutstanding(static_cast<VcpuId>(m.vcpu));
    const Seen d = stack_.Fire(index);
    if (lingering_[index].has_value() && DeliveryPossible({&*lingering_[index]}, d) &&
        !DeliveryPossible({&m}, d)) {
      ++coverage_.lingering_deliveries;  // the failed write's entry, still cached (see Bind)
      return;
    }
    if (m.vcpu < 0 && !m.remapped) {
      if (d.kind != Seen::Kind::kFault)
        Fail(absl::StrFormat("IRTE %u never programmed but delivered (%s)", index, d.raw));
      return;
    }
    if (m.remapped) {
      if (d.kind != Seen::Kind::kRemapped || d.vector != m.host_vector ||
          d.apic_id != m.host_apic) {
        Fail(absl::StrFormat("IRTE %u remapped to %#x@%u, delivered %s", index, m.host_vector,
                             m.host_apic, d.raw));
      }
      return;
    }
    const VcpuId v = static_cast<VcpuId>(m.vcpu);
    if (d.kind != Seen::Kind::kPosted || d.target_pa != stack_.target_pa(v) ||
        (d.vector_known && d.vector != m.vector) || !stack_.Posted(v, m.vector)) {
      Fail(absl::StrFormat("IRTE %u: vector %#x not posted to vCPU %u (%s)", index, m.vector, v,
                           d.raw));
    }
    for (VcpuId other = 0; other < kVcpus; ++other) {
      if (other != v && d.target_pa == stack_.target_pa(other))
        Fail("posted into another vCPU's " + d.raw);
    }
    if (vcpus_[v].st != St::kRunning) return;
    const int cpu = vcpus_[v].cpu;
    if (outstanding ? !stack_.NotifiesRunningOn(v, cpu)
                    : !d.running_notification || d.apic_id != platform().apic_id(cpu)) {
      Fail(absl::StrFormat("running vCPU %u on CPU %d: not notified there (%s%s)", v, cpu, d.raw,
                           outstanding ? ", a notification outstanding" : ""));
    }
    if (d.running_notification) stack_.GuestTakesNotification(v);
  }

  void Burst(uint16_t index) {
    for (int i = 0; i < 520 && error_.empty(); ++i) Fire(index);
  }

  // A CPU (never CPU 0) goes offline or comes back. Running vCPUs leave it first.
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

  // A write whose rollback's flush failed too says so (kRollbackUnflushed in its message): the
  // unit may keep using the attempted entry until a later write's flush succeeds.
  void NoteWriteOutcome(uint16_t index, const absl::Status& s) {
    if (s.ok()) {
      lingering_[index].reset();
    } else if (absl::StrContains(s.message(), kRollbackUnflushed)) {
      lingering_[index] = attempt_;
      ++coverage_.rollbacks_unflushed;
    }
  }

  // What an operation tries to make of an IRTE (what the device may see while it waits).
  void Attempt(uint16_t index, const ModelIrte& target) {
    attempt_index_ = index;
    attempt_ = target;
  }

  // Whether delivery `d` is one the IOMMU can make from IRTE states `states` (what the entry was,
  // is, or was being made), given that it caches an entry between its write and the invalidation.
  // VT-d caches the whole entry, so every field comes from one state; AMD caches the format,
  // vector and vAPIC root pointer but reads the destination, IsRun and tag fresh, so those may
  // come from another state.
  bool DeliveryPossible(std::initializer_list<const ModelIrte*> states, const Seen& d) {
    bool any_guest = false;
    for (const ModelIrte* m : states) any_guest |= m->vcpu >= 0;
    for (const ModelIrte* m : states) {
      if (m->vcpu < 0 && !m->remapped) {
        if (d.kind == Seen::Kind::kFault) return true;
        continue;
      }
      if (m->remapped) {
        if (d.kind != Seen::Kind::kRemapped || d.vector != m->host_vector) continue;
        if (!Stack::kFreshDestinationWithCachedVector) {
          if (d.apic_id == m->host_apic) return true;
          continue;
        }
        if (any_guest) return true;  // destination read fresh from a guest-mode entry
        for (const ModelIrte* fresh : states) {
          const uint32_t destination = fresh->remapped ? fresh->host_apic : 0;  // zeroed entry
          if (destination == d.apic_id) return true;
        }
        continue;
      }
      if (d.kind != Seen::Kind::kPosted) continue;
      const bool vector_ok = !d.vector_known || d.vector == m->vector;
      if (vector_ok && d.target_pa == stack_.target_pa(static_cast<VcpuId>(m->vcpu))) return true;
    }
    return false;
  }

  std::string Describe(const ModelIrte& m) {
    if (m.remapped) return absl::StrFormat("remapped %#x@%u", m.host_vector, m.host_apic);
    if (m.vcpu < 0) return "unprogrammed";
    return absl::StrFormat("vCPU %d vector %#x at %#x", m.vcpu, m.vector,
                           stack_.target_pa(static_cast<VcpuId>(m.vcpu)));
  }

  void CheckCommandWaitDeliveries(const ModelIrte (&before)[kIrtes],
                                  const std::optional<ModelIrte> (&lingering_before)[kIrtes]) {
    for (const auto& [index, d] : stack_.TakeCommandWaitDeliveries()) {
      Trace("  during a wait: IRTE %u %s", index, d.raw);
      ++coverage_.wait_deliveries;
      if (!DeliveryPossible({&irtes_[index]}, d)) ++coverage_.stale_deliveries;
      const bool attempted = attempt_index_ == static_cast<int>(index);
      const ModelIrte& cached = lingering_before[index].value_or(irtes_[index]);
      const bool ok = DeliveryPossible(
          {&before[index], &irtes_[index], attempted ? &attempt_ : &irtes_[index], &cached}, d);
      if (!ok) {
        Fail(absl::StrFormat(
            "IRTE %u fired during a command wait: %s matches neither its state before (%s), "
            "after (%s) nor the attempted one (%s)",
            index, d.raw, Describe(before[index]), Describe(irtes_[index]),
            attempted ? Describe(attempt_) : "none"));
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
        ++coverage_.woken;
      } else if (stack_.Pending(v)) {
        Fail(absl::StrFormat("vCPU %u sleeps with an interrupt pending and was never woken", v));
      }
    }
  }

  std::mt19937_64 rng_;
  const uint64_t seed_;
  Stack stack_;
  ModelVcpu vcpus_[kVcpus];
  ModelIrte irtes_[kIrtes];
  std::optional<ModelIrte> lingering_[kIrtes];  // see NoteWriteOutcome
  int attempt_index_ = -1;  // the IRTE the current operation tries to change, if any
  ModelIrte attempt_;
  std::vector<bool> online_;
  bool ga_log_masked_ = false;
  std::string error_;
  const bool tracing_ = std::getenv("IRQVIRT_PROPERTY_TRACE") != nullptr;
  std::vector<std::string> trace_;
  Coverage coverage_;
};

enum class Iommu { kAmdGaLog, kAmdGappi, kVtd };

template <typename Stack>
void RunSequences(bool variant, uint64_t salt) {
  const uint64_t base = irqvirt::testing::SeedFromEnv("IRQVIRT_PROPERTY_SEED", 20261121) ^ salt;
  Coverage total;
  for (int i = 0; i < kSequences; ++i) {
    Sequence<Stack> sequence(variant, base + i);
    const std::string error = sequence.Run();
    ASSERT_EQ(error, "") << "reproduce with IRQVIRT_PROPERTY_SEED and this sequence's seed";
    total += sequence.coverage();
  }
  EXPECT_GT(total.wait_deliveries, 0u);
  EXPECT_GT(total.stale_deliveries, 0u);
  EXPECT_GT(total.failed_writes, 0u);
  EXPECT_GT(total.sleeps, 0u);
  EXPECT_GT(total.woken, 0u);
  absl::PrintF(
      "wait deliveries %d (stale %d), failed writes %d (rollback unflushed %d, then delivered %d), "
      "sleeps %d, woken %d\n",
      total.wait_deliveries, total.stale_deliveries, total.failed_writes, total.rollbacks_unflushed,
      total.lingering_deliveries, total.sleeps, total.woken);
}

class PropertyTest : public ::testing::TestWithParam<Iommu> {};

TEST_P(PropertyTest, RandomSequencesMatchTheReferenceModel) {
  switch (GetParam()) {
    case Iommu::kAmdGaLog:
      return RunSequences<AmdModelStack>(false, 0);
    case Iommu::kAmdGappi:
      return RunSequences<AmdModelStack>(true, 0x9a991);
    case Iommu::kVtd:
      return RunSequences<VtdModelStack>(false, 0x7d7d);
  }
}

INSTANTIATE_TEST_SUITE_P(Iommus, PropertyTest,
                         ::testing::Values(Iommu::kAmdGaLog, Iommu::kAmdGappi, Iommu::kVtd),
                         [](const auto& info) {
                           switch (info.param) {
                             case Iommu::kAmdGaLog:
                               return "AmdGaLog";
                             case Iommu::kAmdGappi:
                               return "AmdGappi";
                             case Iommu::kVtd:
                               return "Vtd";
                           }
                           return "";
                         });

}  // namespace
}  // namespace irqvirt::posted::testing
