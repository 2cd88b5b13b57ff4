// SPDX-License-Identifier: MIT
// Posted-interrupt routing benchmarks.
//
// BM_LoadPut/<mode>/<M>: one vCPU owning M IRTEs is loaded on a pCPU and put again — the work a
//   hypervisor does on every vCPU schedule-in/out. Real driver code (16-byte CAS per IRTE, no
//   command: only uncached fields change) against the fake IOMMU's memory, with a real spinlock.
// BM_LoadPutVtd/<M>: the same on Intel VT-d. Load and put change only the vCPU's PI descriptor
//   (one 64-bit CAS each, whatever M is), never an IRTE: the `invalidations` counter (IEC
//   flushes during the loop) stays 0, and the time does not grow with M.
//
// BM_SimulatedWakeups/<mode>/<rate> (mode 0 GA log, 1 GAPPI, 2 the KVM baseline: GA log restarted
//   after overflow without irqvirt's rescan): the same fake stack in simulated time (1 tick = 1 µs)
//   to compare the GA log with GAPPI as the interrupt rate grows. 64 vCPUs on 4 pCPUs, each vCPU
//   runs 20 µs after a wake and then blocks. vCPU 0's device storms at `rate` interrupts per
//   100 µs (its 4 IRTEs); the other 63 vCPUs' devices fire 5 per 100 µs in all (about one per vCPU
//   per 1.3 ms). Every pCPU takes interrupts only at 50 µs boundaries (a busy CPU or a
//   threaded IRQ waiting to be scheduled), which is when the GA log or the GAPPI vector is handled.
//   Counters: GA log entries written and dropped (overflow), wakeups lost (a vCPU asleep with a
//   pending IRR at the end, or for longer than 1 ms: must be 0), mean and max time from a
//   sleeping vCPU's first pending IRR bit to its wake, in simulated µs.
//
// ./bazelw run -c opt //benchmarks:posted_routing
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "benchmarks/bench_platform.h"
#include "tests/posted/posted_harness.h"
#include "tests/posted/vtd_harness.h"

namespace irqvirt::posted::testing {
namespace {

using bench::BenchPlatform;

constexpr uint16_t kDev = 0x50;

// Binds IRTEs 0..irtes-1 of kDev to vCPU 0 (either router); says why not in the benchmark.
template <typename Router>
bool BindToVcpu0(Router& router, uint16_t irtes, benchmark::State& state) {
  for (uint16_t i = 0; i < irtes; ++i) {
    if (!router.Bind({kDev, i}, 0, static_cast<uint8_t>(0x40 + i)).ok()) {
      state.SkipWithError("bind failed");
      return false;
    }
  }
  return true;
}

void BM_LoadPut(benchmark::State& state) {
  const bool gappi = state.range(0) != 0;
  const auto irtes = static_cast<uint16_t>(state.range(1));
  BenchPlatform platform(4);
  HarnessOptions o = gappi ? GappiOptions() : HarnessOptions{};
  o.max_vcpus = 4;
  PostedHarness<BenchPlatform> h(o);
  if (!h.Init(platform).ok() || !h.iommu().AttachDevice(kDev).ok() || !h.AddVcpus(1).ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  if (!BindToVcpu0(h.router(), irtes, state)) return;
  const uint64_t commands = h.fake().commands_executed();
  int cpu = 0;
  for (auto _ : state) {
    h.router().Load(0, cpu);
    h.router().Put(0);
    cpu = (cpu + 1) & 3;  // migrate every time: the destination changes too
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["irtes"] = irtes;
  state.counters["commands"] = static_cast<double>(h.fake().commands_executed() - commands);
}
BENCHMARK(BM_LoadPut)->ArgNames({"gappi", "M"})->ArgsProduct({{0, 1}, {1, 4, 16}});

void BM_LoadPutVtd(benchmark::State& state) {
  const auto irtes = static_cast<uint16_t>(state.range(0));
  BenchPlatform platform(4);
  VtdHarnessOptions o;
  o.max_vcpus = 4;
  VtdHarness<BenchPlatform> h(o);
  if (!h.Init(platform).ok() || !h.AddVcpus(1).ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  if (!BindToVcpu0(h.router(), irtes, state)) return;
  const uint64_t invalidations = h.iec_invalidations();
  int cpu = 0;
  for (auto _ : state) {
    h.router().Load(0, cpu);
    h.router().Put(0);
    cpu = (cpu + 1) & 3;  // migrate every time: NDST changes too
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["irtes"] = irtes;
  state.counters["invalidations"] = static_cast<double>(h.iec_invalidations() - invalidations);
}
BENCHMARK(BM_LoadPutVtd)->ArgNames({"M"})->Arg(1)->Arg(4)->Arg(16);

struct SimResult {
  uint64_t fired = 0;
  uint64_t wakes = 0;
  uint64_t lost = 0;
  double mean_wake_us = 0;
  uint64_t max_wake_us = 0;
  uint64_t log_written = 0;
  uint64_t log_dropped = 0;
  uint64_t gappi_sent = 0;
  uint64_t ga_log_interrupts = 0;
};

// mode: 0 GA log, 1 GAPPI, 2 GA log restarted without a rescan (KVM's behaviour, the baseline).
SimResult Simulate(int mode, int rate_per_100us) {
  const bool gappi = mode == 1;
  constexpr int kCpus = 4;
  constexpr uint32_t kVcpus = 64;
  constexpr int kIrtesPerVcpu = 4;
  constexpr int kTicks = 20000;       // 20 ms simulated
  constexpr int kServiceUs = 50;      // pCPUs take interrupts at these boundaries
  constexpr int kRunUs = 20;          // a woken vCPU runs this long, then blocks again
  constexpr int kLostAfterUs = 1000;  // pending this long while asleep counts as lost
  constexpr double kBackgroundPer100us = 5;
  HarnessOptions o = gappi ? GappiOptions() : HarnessOptions{};
  o.num_cpus = kCpus;
  o.max_vcpus = kVcpus;
  o.vectors_per_cpu = gappi ? 4 : 1;
  o.rescan_after_overflow = mode != 2;
  LogicalStack s(o);
  PostedHarness<>& h = s.harness;
  SimResult r;
  if (!h.Init(s.platform).ok() || !h.iommu().AttachDevice(kDev).ok() || !h.AddVcpus(kVcpus).ok()) {
    r.lost = ~0ull;
    return r;
  }
  for (uint32_t v = 0; v < kVcpus; ++v) {
    for (int k = 0; k < kIrtesPerVcpu; ++k) {
      (void)h.router().Bind({kDev, static_cast<uint16_t>(v * kIrtesPerVcpu + k)}, v,
                            static_cast<uint8_t>(0x40 + k));
    }
  }
  enum class St { kRunning, kSleeping };
  struct V {
    St st = St::kRunning;
    int cpu = 0;
    int run_until = 0;
    int pending_since = -1;  // tick the IRR became non-empty while asleep
    uint64_t wakes_seen = 0;
  };
  std::vector<V> vcpus(kVcpus);
  std::mt19937_64 rng(42);
  uint64_t total_wake_us = 0;
  for (uint32_t v = 0; v < kVcpus; ++v) {
    vcpus[v].cpu = static_cast<int>(v % kCpus);
    (void)h.router().Load(v, vcpus[v].cpu);
    vcpus[v].run_until = static_cast<int>(rng() % kRunUs);
  }
  double hot_credit = 0;
  double background_credit = 0;
  for (int t = 0; t < kTicks; ++t) {
    const bool window = t % kServiceUs == 0;
    for (int c = 0; c < kCpus; ++c) s.platform.SetIrqsDisabled(c, !window);  // delivers at windows
    for (uint32_t v = 0; v < kVcpus; ++v) {
      V& x = vcpus[v];
      if (x.st == St::kSleeping && s.platform.wake_count(v) > x.wakes_seen) {
        x.wakes_seen = s.platform.wake_count(v);
        if (x.pending_since >= 0) {
          const uint64_t us = static_cast<uint64_t>(t - x.pending_since);
          total_wake_us += us;
          r.max_wake_us = std::max(r.max_wake_us, us);
          ++r.wakes;
        }
        x.pending_since = -1;
        x.st = St::kRunning;
        (void)h.router().Unblock(v, x.cpu);
        h.DrainIrr(v);
        x.run_until = t + kRunUs;
      } else if (x.st == St::kRunning && t >= x.run_until) {
        h.DrainIrr(v);
        const BlockOutcome b = h.router().Block(v, x.cpu);
        if (b.decision == wakeup::BlockDecision::kSleep) {
          x.st = St::kSleeping;
          x.wakes_seen = s.platform.wake_count(v);
        } else {
          x.run_until = t + kRunUs;
        }
      }
    }
    // A storming device on vCPU 0 at `rate`, plus light background traffic on the others.
    hot_credit += rate_per_100us / 100.0;
    background_credit += kBackgroundPer100us / 100.0;
    while (hot_credit >= 1 || background_credit >= 1) {
      uint16_t index;
      if (hot_credit >= 1) {
        hot_credit -= 1;
        index = static_cast<uint16_t>(rng() % kIrtesPerVcpu);
      } else {
        background_credit -= 1;
        index = static_cast<uint16_t>(kIrtesPerVcpu + rng() % ((kVcpus - 1) * kIrtesPerVcpu));
      }
      const uint32_t v = index / kIrtesPerVcpu;
      h.Fire({kDev, index});
      ++r.fired;
      if (vcpus[v].st == St::kSleeping && vcpus[v].pending_since < 0) vcpus[v].pending_since = t;
    }
    for (uint32_t v = 0; v < kVcpus; ++v) {
      const V& x = vcpus[v];
      if (x.st == St::kSleeping && x.pending_since >= 0 && t - x.pending_since == kLostAfterUs) ++r.lost;
    }
  }
  for (int c = 0; c < kCpus; ++c) s.platform.SetIrqsDisabled(c, false);
  for (uint32_t v = 0; v < kVcpus; ++v) {
    const V& x = vcpus[v];
    if (x.st == St::kSleeping && h.AnyIrr(v) && s.platform.wake_count(v) == x.wakes_seen) ++r.lost;
  }
  r.mean_wake_us = r.wakes == 0 ? 0 : static_cast<double>(total_wake_us) / r.wakes;
  r.log_written = h.fake().ga_log_entries_written();
  r.log_dropped = h.fake().ga_log_entries_dropped();
  r.gappi_sent = h.fake().gappi_interrupts();
  r.ga_log_interrupts = h.fake().ga_log_interrupts();
  return r;
}

void BM_SimulatedWakeups(benchmark::State& state) {
  SimResult r;
  for (auto _ : state) r = Simulate(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  state.counters["fired"] = static_cast<double>(r.fired);
  state.counters["wakes"] = static_cast<double>(r.wakes);
  state.counters["lost_wakeups"] = static_cast<double>(r.lost);
  state.counters["wake_us_mean"] = r.mean_wake_us;
  state.counters["wake_us_max"] = static_cast<double>(r.max_wake_us);
  state.counters["log_entries"] = static_cast<double>(r.log_written);
  state.counters["log_dropped"] = static_cast<double>(r.log_dropped);
  state.counters["log_irqs"] = static_cast<double>(r.ga_log_interrupts);
  state.counters["gappi_irqs"] = static_cast<double>(r.gappi_sent);
}
BENCHMARK(BM_SimulatedWakeups)
    ->ArgNames({"mode", "per100us"})
    ->ArgsProduct({{0, 1, 2}, {10, 100, 400, 1600, 6400}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace irqvirt::posted::testing

BENCHMARK_MAIN();
