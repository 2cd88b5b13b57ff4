// SPDX-License-Identifier: MIT
// GICv5 in-flight SPI fold: the per-exit cost of keeping a VM's in-flight virtual SPIs up to date
// (GIC VDRCFG) so that their deactivation notifiers run, irqvirt against a model of the posted
// KVM patch, in one binary so that ratios come from one run.
//
// One VM on the fake IRS (hw::fake::FakeGicv5Irs) under the shipped VDRCFG/VDPEND backend, so
// a query costs the same for both designs (the fake takes a mutex per query). S level SPIs are
// in flight, N of them with a deactivation notifier (a resampler). SPI 0 is the one that cycles:
// its notifier re-injects it (the device still asserts its line), so S stays constant. The
// other S - 1 are pending for a vPE that takes no interrupt during the run (every fold finds
// them still pending); when N = S they have notifiers that never fire.
//
// One item = one vCPU exit: FoldSpis(vcpu) (the PPI fold is left out on both sides: it is the
// same work and does not depend on S). Every kCycleEvery-th exit of vCPU 0 is preceded by the
// guest handling SPI 0: acknowledge, the driver quiets the device (its line drops, GIC VDPEND
// clears pending), priority drop, deactivate. That exit's fold finds it idle and calls the
// notifier, which re-injects it; so notification (and, for the baseline, allocation) cost is in
// the rows at a fixed rate.
//
// T = 1: one vCPU; one library iteration is one exit. T = 8 (.../manual_time/threads:8): each
// thread is a vCPU that exits in a loop for kWindow (one library iteration per thread, its
// manual time being its window), so all eight exit concurrently for the whole measurement. (With
// the library's fixed iteration count per thread instead, vCPUs whose exits leave the fold to a
// running folder finish their share early and the rest of the run is one vCPU alone, which
// measures neither design under concurrency.) Only vCPU 0's guest handles SPI 0, and only when
// it is pending again: if the fold that notices its deactivation has not run yet, that turn is
// skipped (notifications_per_exit shows the rate actually achieved).
//
//   BM_FoldSpis/S/N            irqvirt::vgic::VgicV5: watched (notifier) SPIs queried every
//                              pass, one quiet SPI every kQuietProbeInterval passes; an exit
//                              that a pass started after (or a dispatching folder's next pass)
//                              serves does not pass again; no allocation.
//   BM_KvmStyleFoldSpis/S/N    the baseline, written here from gic.md §4.5: one per-VM
//                              intrusive list of every in-flight SPI under one IRQ-safe lock; on
//                              every exit of every vCPU while the list is not empty: take the list
//                              lock, and for each SPI take its lock, VDRCFG, fold Active/Pending
//                              (edge: the latch becomes Pending; level: the latch clears only when
//                              neither), and for each one now neither active nor pending allocate
//                              a record (new (std::nothrow), the GFP_ATOMIC), append it to a local
//                              list and unlink the SPI; after unlocking, call the notifier of each
//                              record's SPI (kvm_notify_acked_irq, modelled as an array lookup:
//                              no SRCU, no hlist walk) and free the record. Injection is the same
//                              code shape as irqvirt's (list lock then irq lock when the SPI goes
//                              in flight, VDPEND when the pending state changes); setup checks
//                              that both designs issue the same VDPENDs and notifications for a
//                              short single-vCPU script.
//
// The lock platform is hw::fake::ThreadedPlatform (threads not bound to a pCPU, so no
// interrupt polling): real test-and-set spinlocks whose waiters yield. benchmarks/bench_platform.h
// spins with `pause` instead, which is right for one thread but, with 8 vCPU threads on the
// 2-core development VM, lets waiters burn whole time slices while a preempted holder is off the
// CPU (a kernel spinlock holder cannot be preempted); the *PauseSpin rows (T = 8 only) show that.
//
// Counters (per exit, over all vCPUs; items are exits): wall_ns_per_exit (vCPU 0's wall clock
// from its first exit until every vCPU has finished, divided by all exits: with T = 1 the Time
// column, with T = 8 the VM-wide time per exit on two cores), queries_per_exit (VDRCFG, from the
// fake IRS), vdpend_per_exit, notifications_per_exit; irqvirt also passes_per_exit (fold passes
// run), the baseline allocs_per_exit (records allocated); turns_taken (the fraction of vCPU 0's
// turns at SPI 0 that found it pending again: 1 = every notification came in time for the next
// turn); T = 8 also fewest_exits_share (the vCPU with the fewest exits, as a fraction of an even
// share: 1 = fair, near 0 = one vCPU hardly got back to its guest).
//
// ./bazelw run -c opt //benchmarks:gicv5 -- --benchmark_repetitions=5
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// (interleaving: the two designs' repetitions alternate, so that the VM's slow minutes hit both)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>

#include "benchmarks/bench_platform.h"
#include "hw/arm/gicv5_regs.h"
#include "hw/arm/gicv5_virtual_spis_backend.h"
#include "hw/fake/fake_gicv5_irs.h"
#include "hw/fake/threaded_platform.h"
#include "hw/gicv5_virtual_spis.h"
#include "hw/platform.h"
#include "irqvirt/vgic/vgic_irq.h"
#include "irqvirt/vgic/vgic_v5.h"

namespace irqvirt::bench {
namespace {

using vgic::DeactivationNotifier;
using vgic::Trigger;

constexpr uint16_t kVm = 0;
constexpr uint32_t kCycled = 0;     // the SPI whose notifier re-injects it
constexpr uint16_t kCycledVpe = 0;  // the vPE whose guest handles it
constexpr uint16_t kParkedVpe = 1;  // where the other SPIs wait: it takes nothing during the run
constexpr uint64_t kCycleEvery = 10;
constexpr uint32_t kMaxVcpus = 8;
constexpr std::chrono::milliseconds kWindow{250};  // T > 1: how long every vCPU exits

// ------------------------------------------------------------------------------- platforms

void NoWake(void*, uint32_t) {}

template <typename P>
std::unique_ptr<P> MakePlatform();
template <>
std::unique_ptr<hw::fake::ThreadedPlatform> MakePlatform() {
  return std::make_unique<hw::fake::ThreadedPlatform>(static_cast<int>(kMaxVcpus), &NoWake,
                                                      nullptr);
}
template <>
std::unique_ptr<BenchPlatform> MakePlatform() {
  return std::make_unique<BenchPlatform>(static_cast<int>(kMaxVcpus));
}

// ------------------------------------------------------------------------------- irqvirt

template <typename P>
class IrqvirtSpis {
 public:
  static std::unique_ptr<IrqvirtSpis> Create(P& platform, hw::Gicv5VirtualSpis& irs,
                                             uint32_t num_spis) {
    auto v = vgic::VgicV5<P>::Create(
        platform, {.num_vcpus = kMaxVcpus, .num_spis = num_spis, .vm_id = kVm, .irs = &irs});
    if (!v.ok()) return nullptr;
    return std::unique_ptr<IrqvirtSpis>(new IrqvirtSpis(*std::move(v)));
  }

  bool ConfigureLevel(uint32_t id) { return v_->ConfigureSpi(id, Trigger::kLevel).ok(); }
  bool SetNotifier(uint32_t id, DeactivationNotifier fn, void* context) {
    return v_->SetDeactivationNotifier(id, fn, context).ok();
  }
  bool Inject(uint32_t id, bool level) { return v_->Inject(id, level).ok(); }
  bool Fold(uint32_t vcpu) { return v_->FoldSpis(vcpu).ok(); }
  uint32_t in_flight() { return v_->in_flight(); }
  uint32_t watched() { return v_->watched_in_flight(); }

  static constexpr const char* kExtraCounter = "passes_per_exit";
  uint64_t extra() const { return v_->stats().fold_passes; }

 private:
  explicit IrqvirtSpis(std::unique_ptr<vgic::VgicV5<P>> v) : v_(std::move(v)) {}
  std::unique_ptr<vgic::VgicV5<P>> v_;
};

// ----------------------------------------------------------------- KVM-style baseline

struct ListNode {
  ListNode* next;
  ListNode* prev;
};

template <typename P>
class KvmStyleSpis {
 public:
  using SpinLock = typename P::SpinLock;

  static std::unique_ptr<KvmStyleSpis> Create(P& platform, hw::Gicv5VirtualSpis& irs,
                                              uint32_t num_spis) {
    return std::unique_ptr<KvmStyleSpis>(new KvmStyleSpis(platform, irs, num_spis));
  }

  bool ConfigureLevel(uint32_t id) {
    if (id >= num_spis_) return false;
    Irq& irq = spis_[id];
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    const bool ok = !irq.on_list;
    if (ok) irq.trigger = Trigger::kLevel;
    platform_.UnlockIrqRestore(irq.lock, f);
    return ok;
  }

  // kvm_register_irq_ack_notifier for this SPI's GSI (set up before the run; no SRCU here).
  bool SetNotifier(uint32_t id, DeactivationNotifier fn, void* context) {
    if (id >= num_spis_ || fn == nullptr) return false;
    notifiers_[id] = {fn, context};
    return true;
  }

  // vgic_v5_spi_queue_irq_unlock + the set_pending_state op (gic.md §4.5): an SPI already
  // listed only changes state; one that becomes pending is appended under the list lock, then
  // its lock, rechecked.
  bool Inject(uint32_t id, bool level) {
    if (id >= num_spis_) return false;
    Irq& irq = spis_[id];
    hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    if (irq.on_list) {
      ApplyLineLocked(irq, level);
      platform_.UnlockIrqRestore(irq.lock, f);
      return true;
    }
    platform_.UnlockIrqRestore(irq.lock, f);
    f = platform_.LockIrqSave(list_lock_);
    platform_.LockIrqsOff(irq.lock);
    if (!irq.on_list && (level || irq.pending_latch)) {
      ListNode* tail = head_.prev;  // list_add_tail
      irq.prev = tail;
      irq.next = &head_;
      tail->next = &irq;
      head_.prev = &irq;
      irq.on_list = true;  // irq->vcpu = target_vcpu: the "on the list" marker
      listed_.fetch_add(1, std::memory_order_relaxed);
    }
    ApplyLineLocked(irq, level);
    platform_.UnlockIrqsOff(irq.lock);
    platform_.UnlockIrqRestore(list_lock_, f);
    return true;
  }

  // vgic_v5_fold_irq_state's SPI part (gic.md §4.5 steps 2-7), on every exit of every vCPU.
  bool Fold(uint32_t vcpu) {
    if (vcpu >= kMaxVcpus) return false;
    if (listed_.load(std::memory_order_relaxed) == 0) return true;  // list_empty
    AckRecord* records = nullptr;
    AckRecord** records_tail = &records;
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    for (ListNode *n = head_.next, *next; n != &head_; n = next) {  // list_for_each_entry_safe
      next = n->next;
      Irq& irq = *static_cast<Irq*>(n);
      platform_.LockIrqsOff(irq.lock);
      const auto icsr = hw::arm::IccIcsr::FromRaw(irs_.QuerySpi(kVm, irq.intid));
      irq.active = icsr.active() != 0;
      const bool pending = icsr.pending() != 0;
      if (irq.trigger == Trigger::kEdge) {
        irq.pending_latch = pending;
      } else if (!pending && !irq.active) {
        irq.pending_latch = false;
      }
      if (!irq.active && !irq.IsPending()) {
        auto* rec = new (std::nothrow) AckRecord{nullptr, irq.intid & hw::arm::kGicv5MaxId};
        benchmark::DoNotOptimize(rec);
        if (rec == nullptr) {  // stays listed, with every SPI not yet visited: retried next exit
          platform_.UnlockIrqsOff(irq.lock);
          break;
        }
        ++allocations_;  // under the list lock
        *records_tail = rec;
        records_tail = &rec->next;
        irq.prev->next = irq.next;  // list_del
        irq.next->prev = irq.prev;
        irq.on_list = false;
        listed_.fetch_sub(1, std::memory_order_relaxed);
      }
      platform_.UnlockIrqsOff(irq.lock);
      // vgic_put_irq: no reference count for SPIs.
    }
    platform_.UnlockIrqRestore(list_lock_, f);
    while (records != nullptr) {
      AckRecord* rec = records;
      records = rec->next;
      NotifyAcked(rec->gsi);
      delete rec;
    }
    return true;
  }

  uint32_t in_flight() const { return listed_.load(std::memory_order_relaxed); }
  uint32_t watched() {
    uint32_t n = 0;
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    for (ListNode* p = head_.next; p != &head_; p = p->next) {
      n += notifiers_[static_cast<Irq*>(p)->intid].fn != nullptr ? 1 : 0;
    }
    platform_.UnlockIrqRestore(list_lock_, f);
    return n;
  }

  static constexpr const char* kExtraCounter = "allocs_per_exit";
  uint64_t extra() {
    const hw::IrqFlags f = platform_.LockIrqSave(list_lock_);
    const uint64_t n = allocations_;
    platform_.UnlockIrqRestore(list_lock_, f);
    return n;
  }

 private:
  struct Irq : ListNode {
    SpinLock lock;
    uint32_t intid = 0;
    Trigger trigger = Trigger::kEdge;
    bool on_list = false;
    bool pending_latch = false;
    bool line_level = false;
    bool active = false;
    bool IsPending() const { return pending_latch || (trigger == Trigger::kLevel && line_level); }
  };
  struct AckRecord {
    AckRecord* next;
    uint32_t gsi;
  };
  struct Notifier {
    DeactivationNotifier fn = nullptr;
    void* context = nullptr;
  };

  KvmStyleSpis(P& platform, hw::Gicv5VirtualSpis& irs, uint32_t num_spis)
      : platform_(platform),
        irs_(irs),
        num_spis_(num_spis),
        spis_(new Irq[num_spis]),
        notifiers_(new Notifier[num_spis]) {
    head_.next = head_.prev = &head_;
    for (uint32_t i = 0; i < num_spis; ++i) spis_[i].intid = i;
  }

  // The same rule as irqvirt's: every edge is written; a level change only when the pending
  // state changes.
  void ApplyLineLocked(Irq& irq, bool level) {
    const bool was = irq.IsPending();
    if (irq.trigger == Trigger::kLevel) {
      irq.line_level = level;
    } else if (level) {
      irq.pending_latch = true;
      SetPending(irq, true);
      return;
    }
    if (irq.IsPending() != was) SetPending(irq, irq.IsPending());
  }
  void SetPending(const Irq& irq, bool pending) { irs_.SetSpiPending(kVm, irq.intid, pending); }

  // kvm_notify_acked_irq(kvm, 0, gsi): the SPI's registered ack notifier, if any.
  void NotifyAcked(uint32_t gsi) {
    if (gsi >= num_spis_) return;
    const Notifier& n = notifiers_[gsi];
    if (n.fn != nullptr) n.fn(n.context, gsi);
  }

  P& platform_;
  hw::Gicv5VirtualSpis& irs_;
  const uint32_t num_spis_;
  std::unique_ptr<Irq[]> spis_;
  std::unique_ptr<Notifier[]> notifiers_;
  SpinLock list_lock_;
  ListNode head_;
  std::atomic<uint32_t> listed_{0};
  uint64_t allocations_ = 0;
};

// ------------------------------------------------------------------------------- the run

// One VM: platform, fake IRS and backend, the design under test, the resampler's counters.
template <typename Impl, typename P>
struct Vm {
  explicit Vm(uint32_t num_spis) : platform(MakePlatform<P>()), fake(1, num_spis), backend(fake) {}

  std::unique_ptr<P> platform;
  hw::fake::FakeGicv5Irs fake;
  hw::arm::Gicv5VirtualSpisBackend<hw::fake::FakeGicv5Irs> backend;
  std::unique_ptr<Impl> spis;
  std::atomic<uint64_t> notifications{0};
  std::atomic<uint64_t> errors{0};
  uint64_t guest_steps = 0;  // vCPU 0 only

  // The resampler: its device still asserts the line, so it re-injects (no lock held here).
  static void Resample(void* context, uint32_t id) {
    auto* vm = static_cast<Vm*>(context);
    vm->notifications.fetch_add(1, std::memory_order_relaxed);
    if (!vm->spis->Inject(id, true)) vm->errors.fetch_add(1, std::memory_order_relaxed);
  }

  // The guest on kCycledVpe takes SPI 0 and is done with it before it exits. False if it was
  // not pending again yet (T > 1: the fold that re-injects it may still be running elsewhere).
  bool GuestHandlesCycledSpi() {
    const std::optional<uint32_t> id = fake.Acknowledge(kVm, kCycledVpe);
    if (!id.has_value()) return false;
    if (*id != kCycled) errors.fetch_add(1, std::memory_order_relaxed);
    if (!spis->Inject(*id, false)) errors.fetch_add(1, std::memory_order_relaxed);
    if (!fake.PriorityDrop(kVm, kCycledVpe)) errors.fetch_add(1, std::memory_order_relaxed);
    fake.Deactivate(kVm, *id);
    ++guest_steps;
    return true;
  }

  void Exit(uint32_t vcpu) {
    if (!spis->Fold(vcpu)) errors.fetch_add(1, std::memory_order_relaxed);
  }
};

// S level SPIs, enabled, SPI 0 for kCycledVpe and the rest for kParkedVpe; SPIs 0..N-1 with the
// resampler; all injected (line high), so all S are in flight.
template <typename Impl, typename P>
std::unique_ptr<Vm<Impl, P>> MakeVm(uint32_t s, uint32_t n) {
  auto vm = std::make_unique<Vm<Impl, P>>(s);
  vm->spis = Impl::Create(*vm->platform, vm->backend, s);
  if (vm->spis == nullptr) return nullptr;
  for (uint32_t id = 0; id < s; ++id) {
    vm->fake.GuestSetEnabled(kVm, id, true);
    vm->fake.GuestSetPriority(kVm, id, 8);
    vm->fake.GuestSetHandlingMode(kVm, id, /*level=*/true);
    vm->fake.GuestSetTarget(kVm, id, id == kCycled ? kCycledVpe : kParkedVpe);
    if (!vm->spis->ConfigureLevel(id)) return nullptr;
    if (id < n && !vm->spis->SetNotifier(id, &Vm<Impl, P>::Resample, vm.get())) return nullptr;
    if (!vm->spis->Inject(id, true)) return nullptr;
  }
  if (vm->spis->in_flight() != s || vm->spis->watched() != n) return nullptr;
  return vm;
}

// What one design did over a short single-vCPU script.
struct Trace {
  uint64_t vdpend = 0;
  uint64_t notifications = 0;
  uint32_t in_flight = 0;
  bool ok = false;
};

template <typename Impl, typename P>
Trace RunScript(uint32_t s, uint32_t n) {
  Trace t;
  std::unique_ptr<Vm<Impl, P>> vm = MakeVm<Impl, P>(s, n);
  if (vm == nullptr) return t;
  for (uint64_t i = 1; i <= 4 * kCycleEvery; ++i) {
    if (i % kCycleEvery == 0 && !vm->GuestHandlesCycledSpi()) return t;
    vm->Exit(0);
  }
  t.vdpend = vm->fake.vdpend_count();
  t.notifications = vm->notifications.load();
  t.in_flight = vm->spis->in_flight();
  t.ok = vm->errors.load() == 0 && vm->fake.invalid_operands() == 0;
  return t;
}

template <typename P>
bool SameBehaviour(uint32_t s, uint32_t n) {
  const Trace a = RunScript<IrqvirtSpis<P>, P>(s, n);
  const Trace b = RunScript<KvmStyleSpis<P>, P>(s, n);
  return a.ok && b.ok && a.vdpend == b.vdpend && a.notifications == b.notifications &&
         a.notifications == 4 && a.in_flight == s && b.in_flight == s;
}

// T > 1: all vCPUs exit concurrently for the whole window (see the file comment).
struct Window {
  std::atomic<bool> stop{false};
  std::array<std::atomic<uint64_t>, kMaxVcpus> exits{};
};

template <typename Impl, typename P>
void RunFold(benchmark::State& state) {
  // Set up by thread 0 before the loop's start barrier; read by the others only inside it.
  static std::unique_ptr<Vm<Impl, P>> shared;
  static Window window;
  const auto s = static_cast<uint32_t>(state.range(0));
  const auto n = static_cast<uint32_t>(state.range(1));
  const bool first = state.thread_index() == 0;
  const bool windowed = state.threads() > 1;
  uint64_t vdrcfg0 = 0;
  uint64_t vdpend0 = 0;
  uint64_t extra0 = 0;
  if (first) {
    shared.reset();
    window.stop.store(false, std::memory_order_relaxed);
    for (auto& e : window.exits) e.store(0, std::memory_order_relaxed);
    if (!SameBehaviour<P>(s, n)) {
      state.SkipWithError("the designs disagree on VDPENDs or notifications");
    } else if ((shared = MakeVm<Impl, P>(s, n)) == nullptr) {
      state.SkipWithError("setup failed");
    } else {
      vdrcfg0 = shared->fake.vdrcfg_count();
      vdpend0 = shared->fake.vdpend_count();
      extra0 = shared->spis->extra();
    }
  }
  const auto vcpu = static_cast<uint32_t>(state.thread_index());
  uint64_t i = 0;  // this vCPU's exits
  std::chrono::steady_clock::time_point start;
  for (auto _ : state) {
    Vm<Impl, P>* vm = shared.get();
    if (vm == nullptr) continue;  // thread 0 skipped; no break: the other threads' stop barrier
    if (!windowed) {
      if (i == 0) start = std::chrono::steady_clock::now();
      if (++i % kCycleEvery == 0) vm->GuestHandlesCycledSpi();
      vm->Exit(vcpu);
      continue;
    }
    // One library iteration per thread: exit until the window closes (checked every 64 exits;
    // the first vCPU to see it closed stops the others).
    start = std::chrono::steady_clock::now();
    const std::chrono::steady_clock::time_point deadline = start + kWindow;
    for (;;) {
      if (i % 64 == 0 && (window.stop.load(std::memory_order_relaxed) ||
                          std::chrono::steady_clock::now() >= deadline)) {
        window.stop.store(true, std::memory_order_relaxed);
        break;
      }
      if (first && (i + 1) % kCycleEvery == 0) vm->GuestHandlesCycledSpi();
      vm->Exit(vcpu);
      ++i;
    }
    window.exits[vcpu].store(i, std::memory_order_relaxed);
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const std::chrono::steady_clock::time_point end = std::chrono::steady_clock::now();
  state.SetItemsProcessed(static_cast<int64_t>(i));  // summed over threads by the library
  if (!first || shared == nullptr) return;

  // All threads have passed the stop barrier: thread 0 owns the VM again.
  Vm<Impl, P>& vm = *shared;
  uint64_t total = i;
  uint64_t fewest = i;
  if (windowed) {
    total = 0;
    for (uint32_t v = 0; v < static_cast<uint32_t>(state.threads()); ++v) {
      const uint64_t e = window.exits[v].load(std::memory_order_relaxed);
      total += e;
      fewest = std::min(fewest, e);
    }
  }
  const double exits = static_cast<double>(total);
  const uint64_t vdrcfg = vm.fake.vdrcfg_count() - vdrcfg0;
  const uint64_t vdpend = vm.fake.vdpend_count() - vdpend0;
  const uint64_t extra = vm.spis->extra() - extra0;
  const uint64_t notifications = vm.notifications.load();
  // A last exit folds what the last guest step left; then nothing may be lost or doubled.
  vm.Exit(0);
  if (vm.errors.load() != 0 || vm.fake.invalid_operands() != 0 ||
      vm.notifications.load() != vm.guest_steps || vm.spis->in_flight() != s ||
      vm.spis->watched() != n) {
    state.SkipWithError("lost, doubled or failed notification, or S changed");
  }
  state.counters["wall_ns_per_exit"] =
      static_cast<double>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()) /
      exits;
  state.counters["queries_per_exit"] = static_cast<double>(vdrcfg) / exits;
  state.counters["vdpend_per_exit"] = static_cast<double>(vdpend) / exits;
  state.counters["notifications_per_exit"] = static_cast<double>(notifications) / exits;
  state.counters[Impl::kExtraCounter] = static_cast<double>(extra) / exits;
  // vCPU 0's turns at SPI 0 (one per kCycleEvery of its exits) that found it pending again.
  const uint64_t turns = i / kCycleEvery;
  state.counters["turns_taken"] =
      static_cast<double>(vm.guest_steps) / static_cast<double>(std::max<uint64_t>(turns, 1));
  if (windowed) {
    state.counters["fewest_exits_share"] =
        static_cast<double>(fewest) * state.threads() / std::max(exits, 1.0);
  }
  shared.reset();
}

using Platform = hw::fake::ThreadedPlatform;

void BM_FoldSpis(benchmark::State& state) { RunFold<IrqvirtSpis<Platform>, Platform>(state); }
void BM_KvmStyleFoldSpis(benchmark::State& state) {
  RunFold<KvmStyleSpis<Platform>, Platform>(state);
}
void BM_FoldSpisPauseSpin(benchmark::State& state) {
  RunFold<IrqvirtSpis<BenchPlatform>, BenchPlatform>(state);
}
void BM_KvmStyleFoldSpisPauseSpin(benchmark::State& state) {
  RunFold<KvmStyleSpis<BenchPlatform>, BenchPlatform>(state);
}

// {S, N}: S SPIs in flight, N of them with a notifier (1 or all).
void Args(benchmark::internal::Benchmark* b) {
  for (int s : {1, 16, 256}) {
    b->Args({s, 1});
    if (s > 1) b->Args({s, s});
  }
  b->ArgNames({"S", "N"});
}
void Windowed(benchmark::internal::Benchmark* b) {
  Args(b);
  b->Threads(static_cast<int>(kMaxVcpus))->Iterations(1)->UseManualTime();
}
BENCHMARK(BM_FoldSpis)->Apply(Args)->Threads(1)->UseRealTime();
BENCHMARK(BM_KvmStyleFoldSpis)->Apply(Args)->Threads(1)->UseRealTime();
BENCHMARK(BM_FoldSpis)->Apply(Windowed);
BENCHMARK(BM_KvmStyleFoldSpis)->Apply(Windowed);
BENCHMARK(BM_FoldSpisPauseSpin)->Apply(Windowed);
BENCHMARK(BM_KvmStyleFoldSpisPauseSpin)->Apply(Windowed);

}  // namespace
}  // namespace irqvirt::bench

BENCHMARK_MAIN();
