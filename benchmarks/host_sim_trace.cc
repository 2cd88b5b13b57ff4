// SPDX-License-Identifier: MIT
// What --trace costs: the README's main command (host_sim's default run) without a trace, with
// the trace recorded in memory, and with it written to a file, in one binary so that the ratio
// comes from one run. The goal: writing the trace adds less than 50% to the run's wall
// time. Wall time (UseRealTime), one simulation per iteration.
//   ./bazelw run -c opt //benchmarks:host_sim_trace -- --benchmark_repetitions=5
#include <cstdio>
#include <string>

#include "benchmark/benchmark.h"
#include "examples/host_sim/options.h"
#include "examples/host_sim/simulation.h"
#include "examples/host_sim/trace.h"

namespace host_sim {
namespace {

void BM_DefaultRun(benchmark::State& state) {
  for (auto _ : state) {
    const Report r = RunSimulation(SimOptions{}, nullptr);
    benchmark::DoNotOptimize(r.components.size());
  }
}
BENCHMARK(BM_DefaultRun)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_DefaultRunTraced(benchmark::State& state) {
  size_t events = 0;
  for (auto _ : state) {
    Trace trace{TraceFilter{}};
    const Report r = RunSimulation(SimOptions{}, nullptr, &trace);
    events = trace.events();
    benchmark::DoNotOptimize(r.components.size());
  }
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_DefaultRunTraced)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_DefaultRunTraceWritten(benchmark::State& state) {
  const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                           "/host_sim_trace_benchmark.json";
  for (auto _ : state) {
    Trace trace{TraceFilter{}};
    const Report r = RunSimulation(SimOptions{}, nullptr, &trace);
    if (!trace.WriteFile(path).ok()) state.SkipWithError("cannot write the trace");
    benchmark::DoNotOptimize(r.components.size());
  }
  std::remove(path.c_str());
}
BENCHMARK(BM_DefaultRunTraceWritten)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace host_sim

BENCHMARK_MAIN();
