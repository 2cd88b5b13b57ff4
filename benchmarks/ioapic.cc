// SPDX-License-Identifier: MIT
// I/O APIC EOI path and route scans.
//   BM_IoapicLevelCycle        assert, guest acknowledge, deassert, guest EOI through the
//                              intercepted path (OnLapicEoi -> Remote IRR clear): one level IRQ.
//   BM_IoapicEoiNotIntercepted an EOI of a vector the vCPU does not intercept (the common case
//                              the interception sets exist to make cheap).
//   BM_IoapicRouteChange/<vcpus>  a guest RTE write that moves a level entry between vCPUs, with
//                              all 24 pins level-triggered: rescans of the old and new vCPUs.
#include <benchmark/benchmark.h>

#include "tests/ioapic/ioapic_harness.h"

namespace irqvirt::bench {
namespace {

using testing::IoapicHarness;
using testing::MakeRte;

void BM_IoapicLevelCycle(benchmark::State& state) {
  IoapicHarness h(4);
  h.SetRte(3, {.vector = 0x60, .level = true});
  for (auto _ : state) {
    h.Line(3, true);
    h.lapics.Acknowledge(0);
    h.Line(3, false);
    h.lapics.Eoi(0);
  }
  if (h.ReadRte(3).remote_irr() != 0) state.SkipWithError("Remote IRR stuck");
  state.SetItemsProcessed(state.iterations());
}

void BM_IoapicEoiNotIntercepted(benchmark::State& state) {
  IoapicHarness h(4);
  h.SetRte(3, {.vector = 0x60, .level = true});
  for (auto _ : state) benchmark::DoNotOptimize(h.ioapic->OnLapicEoi(1, 0x61, false));
  state.SetItemsProcessed(state.iterations());
}

void BM_IoapicRouteChange(benchmark::State& state) {
  const int vcpus = static_cast<int>(state.range(0));
  IoapicHarness h(vcpus);
  for (int pin = 0; pin < 24; ++pin) {
    h.SetRte(pin, {.vector = static_cast<uint8_t>(0x40 + pin), .level = true,
                   .dest = static_cast<uint8_t>(pin % vcpus)});
  }
  uint8_t dest = 0;
  for (auto _ : state) {
    dest = static_cast<uint8_t>((dest + 1) % vcpus);
    const uint64_t raw = MakeRte({.vector = 0x40, .level = true, .dest = dest}).raw();
    h.Write(0x11, static_cast<uint32_t>(raw >> 32));
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_IoapicLevelCycle);
BENCHMARK(BM_IoapicEoiNotIntercepted);
BENCHMARK(BM_IoapicRouteChange)->Arg(2)->Arg(8)->Arg(64);

}  // namespace irqvirt::bench

BENCHMARK_MAIN();
