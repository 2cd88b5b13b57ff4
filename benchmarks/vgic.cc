// SPDX-License-Identifier: MIT
// vGIC list-register flush + fold, irqvirt against a model of KVM's pre-existing per-entry
// algorithm, in one binary so that ratios come from one run.
//
// One VM, one vCPU, M edge-triggered group-1 SPIs, all enabled and pending, so all M sit on the
// vCPU's AP list; L list registers. One item = one guest entry/exit: Flush(0, state) and then
// Fold(0, state) with the LRs exactly as Flush wrote them (the guest touched nothing, no
// maintenance interrupt, EOIcount 0). Fold re-latches the pending edges, so every iteration
// starts from the same state: the steady-state cost of an entry/exit with M - L interrupts
// overflowing the LRs.
//
//   BM_FlushFold/M/L          irqvirt::vgic::Vgic (one summarizing pass keeping the best L by
//                             SortKey, no sort; gic.md §3.4-3.8 semantics).
//   BM_KvmStyleFlushFold/M/L  the baseline, written here from gic.md §3.4-3.6 and §3.8: an
//                             intrusive doubly linked AP list of per-interrupt structs, each with
//                             its own spinlock. Flush summarizes the list (every irq lock), and if
//                             it overflows the LRs merge-sorts the whole list (stable, bottom-up,
//                             list_sort-style) with a comparator that takes both irq locks
//                             (nested) and compares the five keys (deliverable, group enabled,
//                             pending and not active, priority, HW); then walks from the head
//                             filling L LRs; fold looks each LR's INTID up and folds it back under
//                             the irq lock. The LR encoding is irqvirt's own ComputeLr, and setup
//                             checks that both produce identical LRs and ICH_HCR_EL2 values.
//                             Not modelled (it would only make the baseline slower): KVM's
//                             vgic_prune_ap_list after every fold, which walks all M entries again.
//
//   BM_EntryExitGicV3/M/L     BM_FlushFold plus the backend's Restore and Save: the GICv3 backend
//   BM_EntryExitGicV2/M/L     (ICH_* system registers) or the GICv2 backend (GICH_* MMIO, values
//                             translated) moving the state through the fake CPU interfaces. The
//                             fakes' register files stand in for hardware, whose accesses cost
//                             more; the counter register_accesses (per entry/exit) is the figure
//                             that carries over.
//
// Both use BenchPlatform's test-and-set spinlock. M is at most 960: the architecture has 988
// SPIs (INTIDs 32..1019), Create takes a multiple of 32, so 960 is the largest SPI count.
//
// Counters: items_per_second (entries/exits per second), ns_per_entry_exit; the baseline also
// reports compares (comparator calls per iteration, each taking two irq locks).
//
// ./bazelw run -c opt //benchmarks:vgic
#include "irqvirt/vgic/vgic.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "benchmarks/bench_platform.h"
#include "hw/arm/gicv2_cpu_interface.h"
#include "hw/arm/gicv3_cpu_interface.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/fake/fake_gicv2_cpu_interface.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/vgic_cpu_state.h"
#include "irqvirt/vgic/list_register.h"
#include "irqvirt/vgic/vgic_irq.h"

namespace irqvirt::bench {
namespace {

using vgic::kFirstSpi;
using vgic::kNoVcpu;
using vgic::Trigger;
using IrqVgic = vgic::Vgic<BenchPlatform>;

constexpr uint32_t kVcpu = 0;

uint8_t PriorityOf(uint32_t i) { return static_cast<uint8_t>((i * 37) & 0xff); }

uint64_t Group1EnabledVmcr() {
  hw::arm::IchVmcr vmcr;
  vmcr.set_veng1(1);
  return vmcr.raw();
}

void SetCounters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_entry_exit"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------- irqvirt

// A Vgic with M SPIs configured as described above and injected in INTID order.
std::unique_ptr<IrqVgic> MakeIrqvirt(BenchPlatform& platform, uint32_t m, int l) {
  vgic::VgicOptions o;
  o.num_vcpus = 1;
  o.num_spis = (m + 31) / 32 * 32;
  o.num_list_registers = l;
  auto created = IrqVgic::Create(platform, o);
  if (!created.ok()) return nullptr;
  std::unique_ptr<IrqVgic> v = *std::move(created);
  for (uint32_t i = 0; i < m; ++i) {
    vgic::IrqConfig c;
    c.enabled = true;
    c.priority = PriorityOf(i);
    c.group = 1;
    c.trigger = Trigger::kEdge;
    if (!v->ConfigureIrq(kVcpu, kFirstSpi + i, c).ok()) return nullptr;
    if (!v->Inject(kVcpu, kFirstSpi + i, true).ok()) return nullptr;
  }
  if (v->ApListLength(kVcpu) != m) return nullptr;
  return v;
}

void BM_FlushFold(benchmark::State& state) {
  const auto m = static_cast<uint32_t>(state.range(0));
  const auto l = static_cast<int>(state.range(1));
  BenchPlatform platform(1);
  std::unique_ptr<IrqVgic> v = MakeIrqvirt(platform, m, l);
  if (v == nullptr) {
    state.SkipWithError("setup failed");
    return;
  }
  hw::VgicCpuState cpu;
  cpu.vmcr = Group1EnabledVmcr();
  for (auto _ : state) {
    if (!v->Flush(kVcpu, cpu).ok()) {
      state.SkipWithError("Flush failed");
      break;
    }
    // The guest ran and left everything as it was: LRs unchanged, no MI, EOIcount 0.
    cpu.misr = 0;
    if (!v->Fold(kVcpu, cpu).ok()) {
      state.SkipWithError("Fold failed");
      break;
    }
    benchmark::DoNotOptimize(cpu);
  }
  if (v->ApListLength(kVcpu) != m) {
    state.SkipWithError("AP list length changed");
    return;
  }
  SetCounters(state);
}

// ---------------------------------------------------------------- with a backend

// Counts the GICv3 backend's system-register accesses on their way to the fake.
class CountingSysRegs {
 public:
  explicit CountingSysRegs(hw::fake::FakeGicV3CpuInterface& cpu) : cpu_(cpu) {}
  uint64_t Read(hw::arm::SysRegEncoding e) {
    ++accesses;
    return cpu_.Read(e);
  }
  void Write(hw::arm::SysRegEncoding e, uint64_t v) {
    ++accesses;
    cpu_.Write(e, v);
  }
  uint64_t accesses = 0;

 private:
  hw::fake::FakeGicV3CpuInterface& cpu_;
};

// Counts the GICv2 backend's GICH_* accesses on their way to the fake.
class CountingGich final : public hw::MmioRegion {
 public:
  explicit CountingGich(hw::MmioRegion& gich) : gich_(gich) {}
  uint64_t Read64(uint32_t o) override { return ++accesses, gich_.Read64(o); }
  void Write64(uint32_t o, uint64_t v) override { ++accesses, gich_.Write64(o, v); }
  uint32_t Read32(uint32_t o) override { return ++accesses, gich_.Read32(o); }
  void Write32(uint32_t o, uint32_t v) override { ++accesses, gich_.Write32(o, v); }
  uint64_t accesses = 0;

 private:
  hw::MmioRegion& gich_;
};

template <typename Backend>
void RunEntryExit(benchmark::State& state, IrqVgic& v, Backend& backend, const uint64_t& accesses,
                  uint32_t m) {
  hw::VgicCpuState cpu;
  cpu.vmcr = Group1EnabledVmcr();
  const uint64_t accesses_before = accesses;
  for (auto _ : state) {
    if (!v.Flush(kVcpu, cpu).ok()) {
      state.SkipWithError("Flush failed");
      break;
    }
    backend.Restore(cpu);
    backend.Save(cpu);  // the guest touched nothing
    if (!v.Fold(kVcpu, cpu).ok()) {
      state.SkipWithError("Fold failed");
      break;
    }
    benchmark::DoNotOptimize(cpu);
  }
  if (v.ApListLength(kVcpu) != m) {
    state.SkipWithError("AP list length changed");
    return;
  }
  SetCounters(state);
  state.counters["register_accesses"] = benchmark::Counter(
      static_cast<double>(accesses - accesses_before) / static_cast<double>(state.iterations()));
}

void BM_EntryExitGicV3(benchmark::State& state) {
  const auto m = static_cast<uint32_t>(state.range(0));
  const auto l = static_cast<int>(state.range(1));
  BenchPlatform platform(1);
  std::unique_ptr<IrqVgic> v = MakeIrqvirt(platform, m, l);
  hw::fake::FakeGicV3CpuInterface cpu({.num_list_registers = l}, nullptr);
  CountingSysRegs regs(cpu);
  hw::arm::GicV3CpuInterface<CountingSysRegs> backend(regs);
  if (v == nullptr || backend.features().num_list_registers != l) {
    state.SkipWithError("setup failed");
    return;
  }
  RunEntryExit(state, *v, backend, regs.accesses, m);
}

void BM_EntryExitGicV2(benchmark::State& state) {
  const auto m = static_cast<uint32_t>(state.range(0));
  const auto l = static_cast<int>(state.range(1));
  BenchPlatform platform(1);
  std::unique_ptr<IrqVgic> v = MakeIrqvirt(platform, m, l);
  hw::fake::FakeGicV2CpuInterface cpu({.num_list_registers = l}, nullptr);
  CountingGich gich(cpu);
  hw::arm::GicV2CpuInterface backend(gich);
  if (v == nullptr || backend.features().num_list_registers != l) {
    state.SkipWithError("setup failed");
    return;
  }
  RunEntryExit(state, *v, backend, gich.accesses, m);
}

// ---------------------------------------------------------------- KVM-style baseline

struct ListNode {
  ListNode* next;
  ListNode* prev;
};

// Laid out like struct vgic_irq (gic.md §3.2): the lock, the INTID, the list node, the rest.
struct KvmIrq : ListNode {
  using SpinLock = BenchPlatform::SpinLock;
  mutable SpinLock lock;
  uint32_t intid = 0;
  int32_t vcpu = kNoVcpu;    // whose AP list holds it
  int32_t target = kVcpu;    // where it should go
  uint32_t hwintid = 0;
  uint8_t priority = 0;
  uint8_t group = 1;
  Trigger trigger = Trigger::kEdge;
  bool pending_latch = false;
  bool line_level = false;
  bool enabled = false;
  bool active = false;
  bool hw = false;
  bool on_lr = false;

  // The names irqvirt's ComputeLr reads.
  bool IsPending() const { return pending_latch || (trigger == Trigger::kLevel && line_level); }
  // gic.md §3.3.
  int32_t Oracle(bool distributor_enabled) const {
    if (active) return vcpu != kNoVcpu ? vcpu : target;
    if (enabled && IsPending()) return distributor_enabled ? target : kNoVcpu;
    return kNoVcpu;
  }
};

KvmIrq* IrqOf(ListNode* n) { return static_cast<KvmIrq*>(n); }

// Merges two null-terminated sorted runs; on ties `a` (the earlier run) wins, so it is stable.
template <typename Cmp>
ListNode* Merge(ListNode* a, ListNode* b, Cmp& cmp) {
  ListNode head{nullptr, nullptr};
  ListNode* tail = &head;
  while (a != nullptr && b != nullptr) {
    if (cmp(a, b) <= 0) {
      tail->next = a;
      a = a->next;
    } else {
      tail->next = b;
      b = b->next;
    }
    tail = tail->next;
  }
  tail->next = a != nullptr ? a : b;
  return head.next;
}

// Stable bottom-up merge sort of the circular list at `head`: runs of 2^i elements are kept in
// bins[i] (a binary counter, as list_sort keeps its pending runs), merged as they pair up; the
// prev links are rebuilt at the end.
template <typename Cmp>
void ListSort(ListNode* head, Cmp& cmp) {
  if (head->next == head || head->next->next == head) return;
  head->prev->next = nullptr;
  ListNode* rest = head->next;
  ListNode* bins[64] = {};
  int num_bins = 0;
  while (rest != nullptr) {
    ListNode* run = rest;
    rest = rest->next;
    run->next = nullptr;
    int i = 0;
    for (; bins[i] != nullptr; ++i) {
      run = Merge(bins[i], run, cmp);  // bins[i] holds earlier elements
      bins[i] = nullptr;
    }
    bins[i] = run;
    if (i + 1 > num_bins) num_bins = i + 1;
  }
  ListNode* sorted = nullptr;
  for (int i = 0; i < num_bins; ++i) {  // higher bins hold earlier elements
    if (bins[i] != nullptr) sorted = sorted == nullptr ? bins[i] : Merge(bins[i], sorted, cmp);
  }
  ListNode* prev = head;
  for (ListNode* n = sorted; n != nullptr; n = n->next) {
    prev->next = n;
    n->prev = prev;
    prev = n;
  }
  prev->next = head;
  head->prev = prev;
}

class KvmStyleVgic {
 public:
  KvmStyleVgic(BenchPlatform& platform, uint32_t num_spis, int num_lrs)
      : platform_(platform), num_spis_(num_spis), num_lrs_(num_lrs), spis_(new KvmIrq[num_spis]) {
    ap_head_.next = ap_head_.prev = &ap_head_;
    for (uint32_t s = 0; s < num_spis; ++s) spis_[s].intid = kFirstSpi + s;
  }

  void Configure(uint32_t intid, uint8_t priority) {
    KvmIrq& irq = spis_[intid - kFirstSpi];
    const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
    irq.enabled = true;
    irq.priority = priority;
    irq.group = 1;
    irq.trigger = Trigger::kEdge;
    platform_.UnlockIrqRestore(irq.lock, f);
  }

  // An edge: latch it and append to the target's list (gic.md §3.12; one vCPU, no races here).
  void Inject(uint32_t intid) {
    KvmIrq& irq = spis_[intid - kFirstSpi];
    const hw::IrqFlags lf = platform_.LockIrqSave(ap_lock_);
    platform_.LockIrqsOff(irq.lock);
    irq.pending_latch = true;
    if (irq.vcpu == kNoVcpu && irq.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu)) {
      ListNode* tail = ap_head_.prev;
      irq.prev = tail;
      irq.next = &ap_head_;
      tail->next = &irq;
      ap_head_.prev = &irq;
      irq.vcpu = kVcpu;
      active_spis_.fetch_add(1, std::memory_order_acq_rel);
      ++ap_length_;
    }
    platform_.UnlockIrqsOff(irq.lock);
    platform_.UnlockIrqRestore(ap_lock_, lf);
  }

  // vgic_flush_lr_state (gic.md §3.5, §3.6) for vCPU 0.
  void Flush(hw::VgicCpuState& state) {
    const auto vmcr = hw::arm::IchVmcr::FromRaw(state.vmcr);
    const bool g0 = vmcr.veng0() != 0;
    const bool g1 = vmcr.veng1() != 0;
    const hw::IrqFlags f = platform_.LockIrqSave(ap_lock_);

    // 1. Summary.
    int nr_pend = 0;
    int nr_act = 0;
    int nr_sgi = 0;
    for (ListNode* n = ap_head_.next; n != &ap_head_; n = n->next) {
      KvmIrq& irq = *IrqOf(n);
      platform_.LockIrqsOff(irq.lock);
      if (irq.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu)) {
        if (irq.active) {
          ++nr_act;
        } else {
          ++nr_pend;
        }
        if (irq.intid < vgic::kNumSgis) ++nr_sgi;
      }
      platform_.UnlockIrqsOff(irq.lock);
    }
    const bool outside = nr_pend + nr_act > num_lrs_;

    // 2. Sort the whole list if it does not fit.
    if (outside) {
      auto cmp = [&](ListNode* na, ListNode* nb) -> int {
        if (na == nb) return 0;
        KvmIrq& a = *IrqOf(na);
        KvmIrq& b = *IrqOf(nb);
        ++compares_;
        platform_.LockIrqsOff(a.lock);
        platform_.LockIrqsOff(b.lock);  // nested
        int ret;
        const bool del_a = a.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu);
        const bool del_b = b.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu);
        if (del_a != del_b) {
          ret = del_a ? -1 : 1;
        } else {
          const bool en_a = a.group != 0 ? g1 : g0;
          const bool en_b = b.group != 0 ? g1 : g0;
          const bool pend_a = a.enabled && a.IsPending() && !a.active;
          const bool pend_b = b.enabled && b.IsPending() && !b.active;
          if (en_a != en_b) {
            ret = en_a ? -1 : 1;
          } else if (pend_a != pend_b) {
            ret = pend_a ? -1 : 1;
          } else if (a.priority != b.priority) {
            ret = static_cast<int>(a.priority) - static_cast<int>(b.priority);
          } else {
            ret = static_cast<int>(b.hw) - static_cast<int>(a.hw);
          }
        }
        platform_.UnlockIrqsOff(b.lock);
        platform_.UnlockIrqsOff(a.lock);
        return ret;
      };
      ListSort(&ap_head_, cmp);
    }

    // 3. Fill from the head.
    int used = 0;
    for (ListNode* n = ap_head_.next; n != &ap_head_ && used < num_lrs_; n = n->next) {
      KvmIrq& irq = *IrqOf(n);
      platform_.LockIrqsOff(irq.lock);
      if (irq.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu)) {
        const uint64_t lr = vgic::ComputeLr(irq);
        if ((lr & hw::arm::kIchLrPendingBit) != 0) {
          if (irq.trigger == Trigger::kEdge) irq.pending_latch = false;
          if (irq.hw && irq.trigger == Trigger::kLevel) irq.line_level = false;
        }
        irq.on_lr = true;
        state.lr[used++] = lr;
        last_lr_irq_ = &irq;
      }
      platform_.UnlockIrqsOff(irq.lock);
    }
    platform_.UnlockIrqRestore(ap_lock_, f);
    for (int n = used; n < num_lrs_; ++n) state.lr[n] = 0;
    used_lrs_ = used;
    state.used_lrs = used;

    // 4. vgic_v3_configure_hcr.
    const bool active_outside = outside && nr_act > 0;
    hw::arm::IchHcr hcr;
    hcr.set_en(1)
        .set_npie(nr_pend > num_lrs_ ? 1 : 0)
        .set_lrenpie(active_outside ? 1 : 0)
        .set_uie(outside ? 1 : 0)
        .set_vsgieoicount(nr_sgi == 0 ? 1 : 0)
        .set_vgrp0die(g0 ? 1 : 0)
        .set_vgrp0eie(g0 ? 0 : 1)
        .set_vgrp1die(g1 ? 1 : 0)
        .set_vgrp1eie(g1 ? 0 : 1)
        .set_tdir(active_outside || active_spis_.load(std::memory_order_acquire) > 0 ? 1 : 0);
    state.hcr = hcr.raw();
  }

  // vgic_v3_fold_lr_state (gic.md §3.8): fold every used LR (the irq found by INTID), then the
  // EOIcount walk after last_lr_irq (a no-op with EOIcount 0, as here).
  void Fold(hw::VgicCpuState& state) {
    const auto hcr = hw::arm::IchHcr::FromRaw(state.hcr);
    int eoicount = hcr.lrenpie() ? static_cast<int>(hcr.eoicount()) : 0;
    for (int n = 0; n < used_lrs_; ++n) {
      const uint64_t lr = state.lr[n];
      const uint32_t intid = hw::arm::IchLrVintid(lr);
      if (intid < kFirstSpi || intid - kFirstSpi >= num_spis_) continue;
      KvmIrq& irq = spis_[intid - kFirstSpi];
      platform_.LockIrqsOff(irq.lock);
      const bool lr_active = (lr & hw::arm::kIchLrActiveBit) != 0;
      const bool deactivated = irq.active && !lr_active;
      irq.active = lr_active;
      if (irq.trigger == Trigger::kEdge && (lr & hw::arm::kIchLrPendingBit) != 0) {
        irq.pending_latch = true;
      }
      if (irq.trigger == Trigger::kLevel &&
          hw::arm::IchLrStateOf(lr) == hw::arm::LrState::kInvalid) {
        irq.pending_latch = false;
      }
      irq.on_lr = false;
      platform_.UnlockIrqsOff(irq.lock);
      if (deactivated && hw::arm::IchLrSignalsEoi(lr)) ++notifications_;
    }
    if (eoicount > 0 && last_lr_irq_ != nullptr) {
      for (ListNode* n = last_lr_irq_->next; n != &ap_head_ && eoicount > 0; n = n->next) {
        KvmIrq& irq = *IrqOf(n);
        platform_.LockIrqsOff(irq.lock);
        if (irq.Oracle(dist_enabled_) == static_cast<int32_t>(kVcpu) && irq.active) {
          irq.active = false;  // the pseudo-LR fold of an edge, non-HW interrupt
          --eoicount;
        }
        platform_.UnlockIrqsOff(irq.lock);
      }
    }
    last_lr_irq_ = nullptr;
    used_lrs_ = 0;
    state.used_lrs = 0;
  }

  uint32_t ap_length() const { return ap_length_; }
  uint64_t compares() const { return compares_; }
  // Every listed interrupt still pending and off the LRs (the state each iteration starts from).
  bool AllPendingOffLr() {
    for (ListNode* n = ap_head_.next; n != &ap_head_; n = n->next) {
      KvmIrq& irq = *IrqOf(n);
      const hw::IrqFlags f = platform_.LockIrqSave(irq.lock);
      const bool ok = irq.pending_latch && !irq.on_lr && !irq.active;
      platform_.UnlockIrqRestore(irq.lock, f);
      if (!ok) return false;
    }
    return true;
  }

 private:
  BenchPlatform& platform_;
  const uint32_t num_spis_;
  const int num_lrs_;
  std::unique_ptr<KvmIrq[]> spis_;
  bool dist_enabled_ = true;
  std::atomic<uint32_t> active_spis_{0};
  BenchPlatform::SpinLock ap_lock_;
  ListNode ap_head_;
  uint32_t ap_length_ = 0;
  // Owned by the vCPU's run loop.
  KvmIrq* last_lr_irq_ = nullptr;
  int used_lrs_ = 0;
  uint64_t compares_ = 0;
  uint64_t notifications_ = 0;
};

std::unique_ptr<KvmStyleVgic> MakeKvmStyle(BenchPlatform& platform, uint32_t m, int l) {
  auto v = std::make_unique<KvmStyleVgic>(platform, (m + 31) / 32 * 32, l);
  for (uint32_t i = 0; i < m; ++i) {
    v->Configure(kFirstSpi + i, PriorityOf(i));
    v->Inject(kFirstSpi + i);
  }
  return v;
}

// The two designs must present the guest the same thing: one entry/exit of each from the same
// starting state gives identical LRs and ICH_HCR_EL2.
bool SameOutput(uint32_t m, int l) {
  BenchPlatform platform(1);
  std::unique_ptr<IrqVgic> iv = MakeIrqvirt(platform, m, l);
  std::unique_ptr<KvmStyleVgic> kv = MakeKvmStyle(platform, m, l);
  if (iv == nullptr) return false;
  hw::VgicCpuState a;
  hw::VgicCpuState b;
  a.vmcr = b.vmcr = Group1EnabledVmcr();
  for (int round = 0; round < 2; ++round) {
    if (!iv->Flush(kVcpu, a).ok()) return false;
    kv->Flush(b);
    // The same LR values; their order differs when nothing overflows (KVM does not sort then,
    // irqvirt always fills by SortKey), and the order of LRs means nothing to the guest.
    std::array<uint64_t, hw::VgicCpuState::kMaxListRegisters> la = a.lr;
    std::array<uint64_t, hw::VgicCpuState::kMaxListRegisters> lb = b.lr;
    std::sort(la.begin(), la.end());
    std::sort(lb.begin(), lb.end());
    if (a.used_lrs != b.used_lrs || a.used_lrs != std::min<int>(l, m) || a.hcr != b.hcr ||
        la != lb) {
      return false;
    }
    if (!iv->Fold(kVcpu, a).ok()) return false;
    kv->Fold(b);
  }
  return true;
}

void BM_KvmStyleFlushFold(benchmark::State& state) {
  const auto m = static_cast<uint32_t>(state.range(0));
  const auto l = static_cast<int>(state.range(1));
  if (!SameOutput(m, l)) {
    state.SkipWithError("the baseline's LRs/HCR differ from irqvirt's");
    return;
  }
  BenchPlatform platform(1);
  std::unique_ptr<KvmStyleVgic> v = MakeKvmStyle(platform, m, l);
  hw::VgicCpuState cpu;
  cpu.vmcr = Group1EnabledVmcr();
  const uint64_t compares = v->compares();
  for (auto _ : state) {
    v->Flush(cpu);
    cpu.misr = 0;
    v->Fold(cpu);
    benchmark::DoNotOptimize(cpu);
  }
  if (v->ap_length() != m || !v->AllPendingOffLr()) {
    state.SkipWithError("the baseline's AP list changed");
    return;
  }
  SetCounters(state);
  state.counters["compares"] = benchmark::Counter(static_cast<double>(v->compares() - compares),
                                                  benchmark::Counter::kAvgIterations);
}

void Args(benchmark::internal::Benchmark* b) {
  for (int m : {16, 64, 256, 960}) {
    for (int l : {4, 16}) b->Args({m, l});
  }
}
BENCHMARK(BM_FlushFold)->Apply(Args);
BENCHMARK(BM_KvmStyleFlushFold)->Apply(Args);
BENCHMARK(BM_EntryExitGicV3)->Apply(Args);
BENCHMARK(BM_EntryExitGicV2)->Apply(Args);

}  // namespace
}  // namespace irqvirt::bench

BENCHMARK_MAIN();
