// SPDX-License-Identifier: MIT
// The wakeup hot path, irqvirt against faithful reimplementations of the designs it replaces,
// in one binary so that ratios come from one run:
//   KvmList  per-pCPU intrusive doubly linked list under one IRQ-safe spinlock (KVM VMX
//            wakeup_vcpus_on_cpu / the GAPPI RFC's gappi_vcpu_wakeup_list); each vCPU struct is
//            its own allocation and holds a pointer to its 4 KiB vAPIC page; the handler walks
//            the list and scans the eight IRR words of each vCPU (highest word first, as
//            kvm_lapic_find_highest_irr does).
//   GaLog    the AMD GA log: a 512-entry ring of 8-byte entries, GA tag -> vCPU through an
//            absl::flat_hash_map, wake.
//   Irqvirt  irqvirt::wakeup::WakeupQueues: dense per-(CPU, vector) arrays, prefetching scan,
//            K sharded wakeup vectors.
// N vCPUs are parked on CPU 0, exactly one has an IRR bit set. cold = 1 flushes (clflush) every
// cache line the handler will read — vCPU structs, IRR lines of the vAPIC pages, list heads, queue
// arrays — between iterations, outside the timed region, so each handler run misses to memory.
// (TLBs are not flushed.) vAPIC pages are separately allocated 4 KiB pages; list order is
// shuffled.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "benchmarks/bench_platform.h"
#include "hw/amd/ga_log_entry.h"
#include "hw/amd/ga_tag.h"
#include "hw/x86/vapic_page.h"
#include "irqvirt/wakeup/wakeup_queues.h"

namespace irqvirt::bench {
namespace {

using hw::x86::ApicVectorReg;
using Queues = wakeup::WakeupQueues<BenchPlatform, wakeup::VapicIrrPending>;

constexpr uint8_t kFirstVector = 0xe0;

void Flush(const void* p, size_t bytes) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (uintptr_t a = start; a < end; a += 64) _mm_clflush(reinterpret_cast<const void*>(a));
}

// The two cache lines holding the eight IRR words (0x200..0x27f).
void FlushIrr(const uint8_t* page) {
  _mm_clflush(page + 0x200);
  _mm_clflush(page + 0x240);
}

struct alignas(4096) Page {
  uint8_t bytes[4096];
};

// Separately allocated, zeroed vAPIC pages.
std::vector<std::unique_ptr<Page>> MakePages(int n) {
  std::vector<std::unique_ptr<Page>> pages;
  for (int i = 0; i < n; ++i) {
    pages.push_back(std::make_unique<Page>());
    std::memset(pages.back()->bytes, 0, sizeof(Page));
  }
  return pages;
}

void SetCounters(benchmark::State& state, uint64_t scanned) {
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_irq"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["vcpus_scanned"] =
      benchmark::Counter(static_cast<double>(scanned), benchmark::Counter::kAvgIterations);
}

// ---------------------------------------------------------------- KvmList baseline

struct ListNode {
  ListNode* next;
  ListNode* prev;
};

// A vCPU as KVM lays it out for this purpose: the wakeup list node and the pointer to the
// APIC register page in a larger, separately allocated structure.
struct KvmVcpu {
  ListNode wakeup_node;
  uint8_t* apic_regs;
  uint32_t id;
  uint8_t rest_of_vcpu[512];
};

struct KvmWakeupList {
  BenchPlatform::SpinLock lock;
  ListNode head{&head, &head};

  void AddTail(ListNode* n) {
    n->prev = head.prev;
    n->next = &head;
    head.prev->next = n;
    head.prev = n;
  }
  static void Del(ListNode* n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
  }
};

KvmVcpu* FromNode(ListNode* n) {
  return reinterpret_cast<KvmVcpu*>(reinterpret_cast<uint8_t*>(n) - offsetof(KvmVcpu, wakeup_node));
}

// kvm_lapic_find_highest_irr: highest IRR word first, stop at the first non-zero one (the same
// scan as VapicPage::Highest).
int FindHighestIrr(uint8_t* regs) { return hw::x86::VapicPage(regs).Highest(ApicVectorReg::kIrr); }

struct KvmWorld {
  BenchPlatform platform{1};
  std::vector<std::unique_ptr<Page>> pages;
  std::vector<std::unique_ptr<KvmVcpu>> vcpus;
  KvmWakeupList list;

  KvmWorld(int n, uint64_t seed) : pages(MakePages(n)) {
    for (int i = 0; i < n; ++i) {
      vcpus.push_back(std::make_unique<KvmVcpu>());
      vcpus.back()->apic_regs = pages[i]->bytes;
      vcpus.back()->id = static_cast<uint32_t>(i);
    }
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    for (int i : order) list.AddTail(&vcpus[i]->wakeup_node);
  }

  void Evict() {
    for (const auto& v : vcpus) Flush(v.get(), offsetof(KvmVcpu, rest_of_vcpu));
    for (const auto& p : pages) FlushIrr(p->bytes);
    Flush(&list, sizeof(list));
    _mm_mfence();
  }

  uint32_t Handler() {
    uint32_t scanned = 0;
    platform.LockIrqsOff(list.lock);
    for (ListNode* n = list.head.next; n != &list.head; n = n->next) {
      KvmVcpu* v = FromNode(n);
      ++scanned;
      if (FindHighestIrr(v->apic_regs) >= 0) platform.WakeVcpu(v->id);
    }
    platform.UnlockIrqsOff(list.lock);
    return scanned;
  }
};

// The timed loop shared by every handler benchmark: optional cold flush outside the timer, one
// handler run per iteration, and a check that each run woke exactly the one pending vCPU.
template <typename World, typename Handler>
void RunHandler(benchmark::State& state, World& world, Handler&& handler) {
  const bool cold = state.range(1) != 0;
  uint64_t scanned = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      world.Evict();
      state.ResumeTiming();
    }
    scanned += handler();
  }
  if (world.platform.wakes != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("wrong number of wakes");
  }
  SetCounters(state, scanned);
}

void BM_WakeupHandler_KvmList(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  KvmWorld world(n, 42);
  hw::x86::VapicPage(world.pages[n / 3]->bytes).Set(ApicVectorReg::kIrr, 0x41);
  RunHandler(state, world, [&] { return world.Handler(); });
}

// ---------------------------------------------------------------- irqvirt

struct IrqvirtWorld {
  BenchPlatform platform{1};
  std::vector<std::unique_ptr<Page>> pages;
  std::unique_ptr<Queues> queues;

  IrqvirtWorld(int n, int k, uint64_t seed) : pages(MakePages(n)) {
    auto q = Queues::Create(platform, {.num_cpus = 1,
                                       .vectors_per_cpu = k,
                                       .first_vector = kFirstVector,
                                       .max_vcpus = static_cast<uint32_t>(n)});
    if (!q.ok()) std::abort();
    queues = std::move(*q);
    std::vector<uint32_t> order(n);
    for (int i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    for (uint32_t v : order) {
      if (!queues->AddVcpu(v, pages[v]->bytes).ok()) std::abort();
      if (queues->Park(v, 0) != wakeup::ParkError::kNone) std::abort();
    }
  }

  void Evict() {
    for (const auto& p : pages) FlushIrr(p->bytes);
    queues->ForEachHandlerMemoryRange(Flush);
    _mm_mfence();
  }
};

void BM_WakeupHandler_Irqvirt(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int k = static_cast<int>(state.range(2));
  IrqvirtWorld world(n, k, 42);
  const uint32_t pending = static_cast<uint32_t>(n / 3);
  hw::x86::VapicPage(world.pages[pending]->bytes).Set(ApicVectorReg::kIrr, 0x41);
  const uint8_t vector = world.queues->WakeupVector(pending);  // what the IRTE's GA tag carries
  RunHandler(state, world, [&] { return world.queues->HandleWakeupVector(0, vector).scanned; });
}

// ---------------------------------------------------------------- park + unpark

constexpr int kParkedBackground = 64;

void BM_ParkUnpark_KvmList(benchmark::State& state) {
  KvmWorld world(kParkedBackground + 1, 7);
  KvmVcpu* v = world.vcpus.back().get();
  KvmWakeupList::Del(&v->wakeup_node);  // starts unparked
  for (auto _ : state) {
    hw::IrqFlags f = world.platform.LockIrqSave(world.list.lock);
    world.list.AddTail(&v->wakeup_node);
    world.platform.UnlockIrqRestore(world.list.lock, f);
    benchmark::ClobberMemory();
    f = world.platform.LockIrqSave(world.list.lock);
    KvmWakeupList::Del(&v->wakeup_node);
    world.platform.UnlockIrqRestore(world.list.lock, f);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ParkUnpark_Irqvirt(benchmark::State& state) {
  IrqvirtWorld world(kParkedBackground + 1, 1, 7);
  const uint32_t v = kParkedBackground;
  world.queues->Unpark(v);
  for (auto _ : state) {
    world.queues->Park(v, 0);
    benchmark::ClobberMemory();
    world.queues->Unpark(v);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------- GA log drain

constexpr uint32_t kGaLogEntries = 512;

struct GaLogVcpu {
  uint32_t id;
  uint8_t* apic_regs;
};

void BM_GaLogDrain(benchmark::State& state) {
  const uint32_t entries = static_cast<uint32_t>(state.range(0));
  constexpr int kVcpus = 1024;
  BenchPlatform platform(1);
  auto pages = MakePages(kVcpus);
  std::vector<std::unique_ptr<GaLogVcpu>> vcpus;
  absl::flat_hash_map<uint32_t, GaLogVcpu*> by_tag;  // svm_vm_data_hash + kvm_get_vcpu in one
  for (int i = 0; i < kVcpus; ++i) {
    vcpus.push_back(std::make_unique<GaLogVcpu>(GaLogVcpu{static_cast<uint32_t>(i), pages[i]->bytes}));
    const uint32_t vm = 1 + static_cast<uint32_t>(i) / 512;
    by_tag[hw::amd::GaTag::Make(vm, static_cast<uint32_t>(i) % 512).value().raw()] =
        vcpus.back().get();
  }
  std::vector<uint32_t> tags;
  for (const auto& [tag, v] : by_tag) tags.push_back(tag);
  std::vector<uint64_t> ring(kGaLogEntries, 0);
  volatile uint32_t head_register = 0;  // MMIO head pointer the driver writes back
  uint32_t head = 0;
  uint32_t tail = 0;
  std::mt19937_64 rng(3);
  uint64_t drained = 0;
  for (auto _ : state) {
    state.PauseTiming();  // the IOMMU appends `entries` entries
    for (uint32_t i = 0; i < entries; ++i) {
      ring[tail / 8] = hw::amd::GaLogEntry()
                           .set_ga_tag(tags[rng() % tags.size()])
                           .set_device_id(0xa0)
                           .set_event_type(hw::amd::kGaLogGuestNotRunning)
                           .raw();
      tail = (tail + 8) % (kGaLogEntries * 8);
    }
    state.ResumeTiming();
    while (head != tail) {
      const hw::amd::GaLogEntry e = hw::amd::GaLogEntry::FromRaw(ring[head / 8]);
      head = (head + 8) % (kGaLogEntries * 8);
      head_register = head;  // written back before dispatch
      if (e.event_type() != hw::amd::kGaLogGuestNotRunning) continue;
      auto it = by_tag.find(static_cast<uint32_t>(e.ga_tag()));
      if (it != by_tag.end()) platform.WakeVcpu(it->second->id);
      ++drained;
    }
  }
  benchmark::DoNotOptimize(head_register);
  state.SetItemsProcessed(static_cast<int64_t>(drained));
  state.counters["ns_per_irq"] = benchmark::Counter(
      static_cast<double>(drained) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["vcpus_scanned"] =
      benchmark::Counter(static_cast<double>(drained), benchmark::Counter::kAvgIterations);
}

void HandlerArgs(benchmark::internal::Benchmark* b, bool with_k) {
  for (int n : {16, 64, 256, 1024}) {
    for (int cold : {0, 1}) {
      if (with_k) {
        for (int k : {1, 8}) b->Args({n, cold, k});
      } else {
        b->Args({n, cold});
      }
    }
  }
}

}  // namespace

BENCHMARK(BM_WakeupHandler_KvmList)->Apply([](benchmark::internal::Benchmark* b) {
  HandlerArgs(b, false);
});
BENCHMARK(BM_WakeupHandler_Irqvirt)->Apply([](benchmark::internal::Benchmark* b) {
  HandlerArgs(b, true);
});
BENCHMARK(BM_ParkUnpark_KvmList);
BENCHMARK(BM_ParkUnpark_Irqvirt);
BENCHMARK(BM_GaLogDrain)->Arg(1)->Arg(64)->Arg(511);

}  // namespace irqvirt::bench

BENCHMARK_MAIN();
