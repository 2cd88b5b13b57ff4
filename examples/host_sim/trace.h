// SPDX-License-Identifier: MIT
// The run as a timeline: Chrome trace-event JSON (the format Perfetto and chrome://tracing open),
// written by the simulation itself (no dependency). One process per simulated host, one track
// (thread) per pCPU, vCPU, device and IOMMU; complete events ("X") for everything that takes
// time, instants for things that happen at a point, counters, and flow arrows that follow one
// interrupt from the device that raised it to where the IOMMU or interrupt controller put it, to
// the host handler that woke its vCPU, to the guest handler that consumed it.
//
// Rules the writer keeps (tests/examples/host_sim_trace_test.cc checks them):
//   - slices on one track nest or follow each other, never partly overlap;
//   - timestamps are in simulated time, written sorted, so they only grow on every track;
//   - a flow event lies strictly inside the slice it binds to (Perfetto binds a flow step to the
//     slice open on its track at that moment), so every slice that carries one lasts >= 2 ns;
//   - the same seed writes the same bytes.
// A disabled Trace (no --trace) records nothing: every call returns after one test.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_TRACE_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/host_sim/cost_model.h"

namespace host_sim {

// What --trace_filter keeps: hosts by component key, one VM's tracks, a window of simulated time.
struct TraceFilter {
  std::set<std::string> components;  // empty: every host
  int vm = -1;                       // -1: every VM (tracks of no VM, such as pCPUs, always stay)
  cost::Ns from = 0;
  cost::Ns to = INT64_MAX;
};

// "component=x86_gappi+arm64_gicv3,vm=1,from_us=100,to_us=2000" (any subset, any order).
absl::StatusOr<TraceFilter> ParseTraceFilter(std::string_view text);
// The component keys, for messages: "x86_galog, x86_gappi, ...".
std::string TraceComponentKeys();

// Slice categories: the test tells a consuming guest handler from everything else by these.
enum class TraceCat : uint8_t {
  kHost,      // host work on a pCPU: handlers, exits, IOMMU commands
  kGuest,     // a vCPU's state: running, HLT exit, blocked, runnable
  kGuestIrq,  // a guest interrupt handler: where an interrupt is consumed
  kDevice,    // a device raising an interrupt
  kIommu,     // the IOMMU (or interrupt controller) posting or delivering it
  kLost,      // the end of a flow whose interrupt was never consumed (the KVM baseline)
  kEvent,     // instants: overflows, CPU offline, re-routes
};

class Trace {
 public:
  using Ns = cost::Ns;

  Trace() = default;  // disabled
  explicit Trace(TraceFilter filter) : enabled_(true), filter_(std::move(filter)) {}
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  bool enabled() const { return enabled_; }

  // A simulated host: `component` is its filter key, `name` what the UI shows. Returns its pid,
  // or -1 when the filter drops it (every call with pid -1 records nothing).
  int Process(const std::string& component, const std::string& name);
  // A track of process `pid` (the UI orders tracks by `tid`); `vm` >= 0 ties it to a VM (for the
  // filter). Returns a handle, -1 when dropped.
  int Track(int pid, int tid, const std::string& name, int vm = -1);

  // A name's id: a frequent name is interned once, and its id passed instead.
  int Name(std::string_view name);

  // A slice [begin, end] (end >= begin).
  void Slice(int track, Ns begin, Ns end, int name, TraceCat cat);
  void Slice(int track, Ns begin, Ns end, std::string_view name, TraceCat cat) {
    if (track >= 0) Slice(track, begin, end, Name(name), cat);
  }
  // A short slice that the track's own earlier short slices push back (a device issues its MSI
  // writes one after another): it starts at max(at, end of the previous one). Returns its start.
  Ns SerialSlice(int track, Ns at, Ns duration, int name, TraceCat cat);
  Ns SerialSlice(int track, Ns at, Ns duration, std::string_view name, TraceCat cat) {
    return track < 0 ? at : SerialSlice(track, at, duration, Name(name), cat);
  }
  void Instant(int track, Ns at, std::string_view name);
  void Counter(int pid, Ns at, std::string_view name, int64_t count);

  // Flows: one id per raise. Start, steps and end are placed at `at + 1 ns`, inside the slice
  // that starts at `at` on `track` (the caller made that slice).
  uint64_t NewFlow() { return enabled_ ? ++last_flow_ : 0; }
  void FlowStart(uint64_t flow, int track, Ns at) { Flow('s', flow, track, at); }
  void FlowStep(uint64_t flow, int track, Ns at) { Flow('t', flow, track, at); }
  void FlowEnd(uint64_t flow, int track, Ns at) { Flow('f', flow, track, at); }
  // A device raises an interrupt at `at`: its write on the device's `track` (a short slice named
  // `name`) starts a new flow. Returns the flow (0 without a trace).
  uint64_t Raise(int track, Ns at, int name) {
    const uint64_t flow = NewFlow();
    if (flow == 0 || track < 0) return flow;
    FlowStart(flow, track, SerialSlice(track, at, cost::kMsiWrite, name, TraceCat::kDevice));
    return flow;
  }

  size_t events() const { return events_.size(); }
  // Writes the JSON document (sorted by time) to `path`. Returns what went wrong.
  absl::Status WriteFile(const std::string& path) const;
  // The same document as a string (tests).
  std::string ToJson() const;

 private:
  struct TrackInfo {
    int pid;
    int tid;
    Ns serial_end = 0;  // where the next SerialSlice may start
  };
  struct Event {
    Ns ts;
    Ns dur;
    int64_t id;     // flows: the flow's id; counters: the count
    int32_t track;  // for X, i, flows; counters: -1 - pid
    int32_t name;
    char ph;
    TraceCat cat;
  };
  // Events in blocks that never move (no copy as the run grows).
  class EventStore {
   public:
    void push_back(const Event& e) {
      if (size_ % kBlock == 0) blocks_.emplace_back(new Event[kBlock]);
      blocks_.back()[size_ % kBlock] = e;
      ++size_;
    }
    size_t size() const { return size_; }
    const Event& operator[](size_t i) const { return blocks_[i / kBlock][i % kBlock]; }

   private:
    static constexpr size_t kBlock = 1 << 16;
    std::vector<std::unique_ptr<Event[]>> blocks_;
    size_t size_ = 0;
  };
  bool InWindow(Ns begin, Ns end) const { return end >= filter_.from && begin <= filter_.to; }
  void Flow(char ph, uint64_t flow, int track, Ns at);
  void Write(std::string& out, FILE* file) const;

  bool enabled_ = false;
  TraceFilter filter_;
  std::vector<std::string> process_names_;   // pid - 1
  std::vector<TrackInfo> tracks_;
  std::vector<std::string> track_names_;
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int> name_ids_;
  EventStore events_;
  uint64_t last_flow_ = 0;
};

// The interned names of a numbered family ("IRQ 0x41" for each vector): each formatted once.
class TraceNames {
 public:
  template <typename Format>
  int Get(Trace& trace, size_t i, Format&& format) {
    if (!trace.enabled()) return -1;
    if (i >= ids_.size()) ids_.resize(i + 1, -1);
    if (ids_[i] < 0) ids_[i] = trace.Name(format());
    return ids_[i];
  }

 private:
  std::vector<int> ids_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_TRACE_H_
