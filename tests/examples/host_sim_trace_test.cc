// SPDX-License-Identifier: MIT
// host_sim --trace: the Chrome trace-event JSON of the README's main command, parsed event by
// event (the document's frame, then each line one JSON object), and checked for what makes
// the timeline trustworthy in Perfetto and chrome://tracing:
//   - every raise (every interrupt a device raised, as the report counts them) starts a flow,
//     and every flow ends inside a guest handler's slice (for the KVM baseline, whose lost
//     wakeups may leave an interrupt undelivered, possibly in a "never delivered" slice);
//   - every flow event lies inside a slice of its own track (else Perfetto drops it);
//   - slices on one track nest or follow each other, never partly overlap;
//   - timestamps never go back on a track;
//   - the file is under 20 MB; the same seed writes the same bytes; the filter keeps what it
//     says.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "examples/host_sim/options.h"
#include "examples/host_sim/report.h"
#include "examples/host_sim/simulation.h"
#include "examples/host_sim/trace.h"
#include "gtest/gtest.h"
#include "tests/examples/tiny_json.h"

namespace host_sim {
namespace {

// The format's microseconds ("1234.567") as exact nanoseconds.
int64_t Nanoseconds(const std::string& us) {
  const size_t dot = us.find('.');
  int64_t ns = std::atoll(us.substr(0, dot).c_str()) * 1000;
  if (dot != std::string::npos) {
    std::string frac = us.substr(dot + 1, 3);
    while (frac.size() < 3) frac += '0';
    ns += std::atoll(frac.c_str());
  }
  return ns;
}

// One event: every field as text, plus the numbers the checks use (exact nanoseconds).
struct Event {
  std::map<std::string, std::string> fields;
  char ph = 0;
  int pid = -1, tid = -1;
  int64_t ts = 0, dur = 0;
  std::string name, cat;
  bool has_ts = false;
};

// One event line, parsed (tiny_json: any syntax error or trailing garbage refuses it).
std::optional<Event> ParseEvent(const std::string& line) {
  std::optional<std::map<std::string, std::string>> fields = tiny_json::Reader(line).Flatten();
  if (!fields) return std::nullopt;
  Event e;
  e.fields = std::move(*fields);
  const auto get = [&](const char* k) -> const std::string* {
    auto it = e.fields.find(k);
    return it == e.fields.end() ? nullptr : &it->second;
  };
  const std::string* ph = get("ph");
  if (ph == nullptr || ph->size() != 1) return std::nullopt;
  e.ph = (*ph)[0];
  if (const std::string* v = get("pid")) e.pid = std::atoi(v->c_str());
  if (const std::string* v = get("tid")) e.tid = std::atoi(v->c_str());
  if (const std::string* v = get("ts")) {
    e.ts = Nanoseconds(*v);
    e.has_ts = true;
  }
  if (const std::string* v = get("dur")) e.dur = Nanoseconds(*v);
  if (const std::string* v = get("name")) e.name = *v;
  if (const std::string* v = get("cat")) e.cat = *v;
  return e;
}

struct Parsed {
  std::vector<Event> events;
  std::string error;
};

Parsed ParseTrace(const std::string& json) {
  Parsed p;
  const std::string head = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  const std::string tail = "\n]}\n";
  if (json.compare(0, head.size(), head) != 0 || json.size() < head.size() + tail.size() ||
      json.compare(json.size() - tail.size(), tail.size(), tail) != 0) {
    p.error = "not the document the format describes";
    return p;
  }
  size_t at = head.size();
  const size_t end = json.size() - tail.size();
  while (at < end) {
    size_t nl = json.find('\n', at);
    if (nl == std::string::npos || nl > end) nl = end;
    std::string line = json.substr(at, nl - at);
    if (nl != end) {
      if (line.empty() || line.back() != ',') {
        p.error = "events are not separated by commas: " + line;
        return p;
      }
      line.pop_back();
    }
    std::optional<Event> e = ParseEvent(line);
    if (!e) {
      p.error = "not a JSON event: " + line;
      return p;
    }
    p.events.push_back(std::move(*e));
    at = nl + 1;
  }
  return p;
}

using TrackKey = std::pair<int, int>;

struct Slice {
  int64_t ts, end;
  std::string cat, name;
};

// The slices of every track, and the processes' names.
struct Tracks {
  std::map<TrackKey, std::vector<Slice>> slices;
  std::map<int, std::string> processes;
  std::map<TrackKey, std::string> threads;
};

Tracks Collect(const std::vector<Event>& events) {
  Tracks t;
  for (const Event& e : events) {
    if (e.ph == 'X') t.slices[{e.pid, e.tid}].push_back({e.ts, e.ts + e.dur, e.cat, e.name});
    if (e.ph == 'M' && e.name == "process_name") t.processes[e.pid] = e.fields.at("args.name");
    if (e.ph == 'M' && e.name == "thread_name") t.threads[{e.pid, e.tid}] = e.fields.at("args.name");
  }
  for (auto& [key, slices] : t.slices) {
    std::stable_sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.end > b.end;
    });
  }
  return t;
}

// The innermost slice of `track` that contains `ts` (the latest-starting one: slices nest), or
// nullptr.
const Slice* Enclosing(const Tracks& t, TrackKey track, int64_t ts) {
  auto it = t.slices.find(track);
  if (it == t.slices.end()) return nullptr;
  const std::vector<Slice>& s = it->second;
  auto after = std::upper_bound(s.begin(), s.end(), ts,
                                [](int64_t v, const Slice& x) { return v < x.ts; });
  for (int looked = 0; after != s.begin() && looked < 100000; ++looked) {
    --after;
    if (after->end >= ts) return &*after;
  }
  return nullptr;
}

const ComponentCount* Component(const Report& r, const std::string& key) {
  for (const ComponentCount& c : r.components) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

class DefaultRunTrace : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trace_ = new Trace(TraceFilter{});
    report_ = new Report(RunSimulation(SimOptions{}, nullptr, trace_));
    json_ = new std::string(trace_->ToJson());
    parsed_ = new Parsed(ParseTrace(*json_));
    tracks_ = new Tracks(Collect(parsed_->events));
  }
  static void TearDownTestSuite() {
    delete tracks_;
    delete parsed_;
    delete json_;
    delete report_;
    delete trace_;
  }
  static Trace* trace_;
  static Report* report_;
  static std::string* json_;
  static Parsed* parsed_;
  static Tracks* tracks_;
};
Trace* DefaultRunTrace::trace_ = nullptr;
Report* DefaultRunTrace::report_ = nullptr;
std::string* DefaultRunTrace::json_ = nullptr;
Parsed* DefaultRunTrace::parsed_ = nullptr;
Tracks* DefaultRunTrace::tracks_ = nullptr;

TEST_F(DefaultRunTrace, IsWellFormedAndUnderTwentyMegabytes) {
  ASSERT_TRUE(report_->ok());
  ASSERT_EQ(parsed_->error, "");
  EXPECT_LT(json_->size(), 20u * 1000 * 1000);
  EXPECT_GT(parsed_->events.size(), 1000u);
  std::cout << "default run: " << json_->size() << " bytes, " << parsed_->events.size()
            << " events\n";
}

TEST_F(DefaultRunTrace, HasATrackPerPcpuAndVcpuInEveryHost) {
  ASSERT_EQ(parsed_->error, "");
  const std::set<std::string> hosts = {"x86 GA log",  "x86 KVM baseline", "x86 GAPPI",
                                       "x86 VT-d",    "arm64 GICv3 VM",   "arm64 GICv5 VM"};
  std::set<std::string> seen;
  for (const auto& [pid, name] : tracks_->processes) seen.insert(name);
  EXPECT_EQ(seen, hosts);
  for (const auto& [pid, name] : tracks_->processes) {
    std::set<std::string> threads;
    for (const auto& [key, thread] : tracks_->threads) {
      if (key.first == pid) threads.insert(thread);
    }
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(threads.count("pCPU " + std::to_string(c)), 1u) << name << " pCPU " << c;
    }
    const bool x86 = name.rfind("x86", 0) == 0;
    const bool v5 = name == "arm64 GICv5 VM";
    for (int v = 0; v < (x86 ? 16 : 4); ++v) {
      const std::string vcpu = v5 ? "vPE " + std::to_string(v) + " guest IRQs"
                               : x86 ? "vCPU " + std::to_string(v) + " (VM " +
                                           std::to_string(v / 4) + ")"
                                     : "vCPU " + std::to_string(v);
      EXPECT_EQ(threads.count(vcpu), 1u) << name << ": " << vcpu;
    }
  }
}

TEST_F(DefaultRunTrace, TimestampsNeverGoBackOnATrack) {
  ASSERT_EQ(parsed_->error, "");
  std::map<TrackKey, int64_t> last;
  for (const Event& e : parsed_->events) {
    if (!e.has_ts) continue;
    const TrackKey key{e.pid, e.ph == 'C' ? -1 : e.tid};
    auto [it, first] = last.emplace(key, e.ts);
    if (!first) {
      ASSERT_GE(e.ts, it->second) << "pid " << e.pid << " tid " << e.tid << " at " << e.ts;
      it->second = e.ts;
    }
  }
}

TEST_F(DefaultRunTrace, SlicesOnATrackNestOrFollowNeverOverlap) {
  ASSERT_EQ(parsed_->error, "");
  for (const auto& [key, s] : tracks_->slices) {
    std::vector<int64_t> open;  // ends of the slices containing the current one
    for (const Slice& x : s) {
      while (!open.empty() && open.back() <= x.ts) open.pop_back();
      if (!open.empty()) {
        ASSERT_LE(x.end, open.back()) << "pid " << key.first << " tid " << key.second << ": "
                                      << x.name << " at " << x.ts << " overlaps a slice ending at "
                                      << open.back();
      }
      open.push_back(x.end);
    }
  }
}

TEST_F(DefaultRunTrace, EveryRaiseHasAFlowFromItsDeviceToTheGuestHandlerThatConsumedIt) {
  ASSERT_EQ(parsed_->error, "");
  struct Flow {
    int starts = 0, steps = 0, ends = 0;
    int pid = -1;
    int64_t start = 0, end = 0;
    bool end_bound = false;
  };
  std::map<std::string, Flow> flows;
  std::map<int, int> starts_per_process;
  for (const Event& e : parsed_->events) {
    if (e.ph != 's' && e.ph != 't' && e.ph != 'f') continue;
    const std::string id = e.fields.at("id");
    Flow& f = flows[id];
    if (f.pid < 0) f.pid = e.pid;
    ASSERT_EQ(f.pid, e.pid) << "flow " << id << " crosses processes";
    // Perfetto binds a flow event to the slice open on its track: there must be one.
    const Slice* in = Enclosing(*tracks_, {e.pid, e.tid}, e.ts);
    ASSERT_NE(in, nullptr) << "flow " << id << " (" << e.ph << ") at " << e.ts << " on pid "
                           << e.pid << " tid " << e.tid << " lies in no slice";
    if (e.ph == 's') {
      ++f.starts;
      f.start = e.ts;
      ++starts_per_process[e.pid];
    } else if (e.ph == 't') {
      ++f.steps;
    } else {
      ++f.ends;
      f.end = e.ts;
      f.end_bound = e.fields.count("bp") != 0 && e.fields.at("bp") == "e";
      const std::string& process = tracks_->processes.at(e.pid);
      const bool consumed = in->cat == "irq";
      const bool baseline_never = in->cat == "lost" && process == "x86 KVM baseline";
      EXPECT_TRUE(consumed || baseline_never)
          << "flow " << id << " in " << process << " ends in \"" << in->name << "\" (" << in->cat
          << "), not in a guest handler";
    }
  }
  for (const auto& [id, f] : flows) {
    ASSERT_EQ(f.starts, 1) << "flow " << id;
    ASSERT_EQ(f.ends, 1) << "flow " << id << " never reaches a handler";
    EXPECT_TRUE(f.end_bound) << "flow " << id;
    EXPECT_LE(f.start, f.end) << "flow " << id;
  }
  // One flow per raise, host by host: the trace shows every interrupt the report counts.
  const std::map<std::string, std::vector<std::string>> raised_by = {
      {"x86 GA log", {"x86_galog_msi", "x86_galog_lines"}},
      {"x86 KVM baseline", {"x86_baseline_msi", "x86_baseline_lines"}},
      {"x86 GAPPI", {"x86_gappi_msi", "x86_gappi_lines"}},
      {"x86 VT-d", {"x86_vtd_msi", "x86_vtd_lines"}},
      {"arm64 GICv3 VM", {"arm64_gicv3_spis"}},
      {"arm64 GICv5 VM", {"arm64_gicv5_spis"}}};
  for (const auto& [pid, name] : tracks_->processes) {
    uint64_t raised = 0;
    for (const std::string& key : raised_by.at(name)) {
      const ComponentCount* c = Component(*report_, key);
      ASSERT_NE(c, nullptr) << key;
      raised += c->raised;
    }
    EXPECT_EQ(static_cast<uint64_t>(starts_per_process[pid]), raised) << name;
  }
}

TEST_F(DefaultRunTrace, ShowsTheBaselinesLostWakeupAndTheEventsAroundIt) {
  ASSERT_EQ(parsed_->error, "");
  std::map<std::string, int> instants;  // "process: name"
  std::set<std::string> counters;
  for (const Event& e : parsed_->events) {
    const std::string& process = tracks_->processes[e.pid];
    if (e.ph == 'i') {
      std::string n = e.name.substr(0, e.name.find_first_of("(:0123456789"));
      ++instants[process + ": " + n];
    }
    if (e.ph == 'C') counters.insert(e.name.substr(0, 7));
  }
  EXPECT_GT(instants["x86 KVM baseline: lost wakeup"], 0);
  EXPECT_EQ(instants["x86 GA log: lost wakeup"], 0);
  EXPECT_GT(instants["x86 KVM baseline: GA log overflow"], 0);
  EXPECT_GT(instants["x86 GA log: CPU offline "], 0);
  EXPECT_GT(instants["x86 GAPPI: re-route pin "], 0);
  EXPECT_EQ(counters.count("GA log "), 1u);
  EXPECT_EQ(counters.count("AP list"), 1u);
}

// --- short runs ---

SimOptions Short(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.duration_us = 2000;
  return o;
}

std::string TraceOf(const SimOptions& o, const TraceFilter& filter) {
  Trace trace(filter);
  RunSimulation(o, nullptr, &trace);
  return trace.ToJson();
}

TEST(HostSimTrace, SameSeedSameFile) {
  const std::string a = TraceOf(Short(3), {});
  EXPECT_EQ(a, TraceOf(Short(3), {}));
  EXPECT_NE(a, TraceOf(Short(4), {}));
}

TEST(HostSimTrace, TheFilterKeepsOneComponentOneVmAndOneWindow) {
  absl::StatusOr<TraceFilter> f =
      ParseTraceFilter("component=x86_gappi+arm64_gicv5,vm=1,from_us=500,to_us=1500");
  ASSERT_TRUE(f.ok()) << f.status();
  const Parsed p = ParseTrace(TraceOf(Short(3), *f));
  ASSERT_EQ(p.error, "");
  const Tracks t = Collect(p.events);
  std::set<std::string> processes;
  for (const auto& [pid, name] : t.processes) processes.insert(name);
  EXPECT_EQ(processes, (std::set<std::string>{"x86 GAPPI", "arm64 GICv5 VM"}));
  int vcpu_tracks = 0;
  for (const auto& [key, name] : t.threads) {
    if (name.rfind("vCPU ", 0) == 0 && name.find("(VM") != std::string::npos) {
      EXPECT_NE(name.find("(VM 1)"), std::string::npos) << name;
      ++vcpu_tracks;
    }
  }
  EXPECT_EQ(vcpu_tracks, 4);
  int timed = 0;
  for (const Event& e : p.events) {
    if (!e.has_ts) continue;
    ++timed;
    EXPECT_LE(e.ts, 1500001) << e.name;
    EXPECT_GE(e.ts + e.dur, 500000) << e.name;
  }
  EXPECT_GT(timed, 100);
}

}  // namespace
}  // namespace host_sim
