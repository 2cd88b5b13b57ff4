// SPDX-License-Identifier: MIT
#include "examples/host_sim/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace host_sim {
namespace {

constexpr const char* kComponents[] = {"x86_galog",   "x86_gappi",   "x86_vtd",
                                       "x86_baseline", "arm64_gicv3", "arm64_gicv5"};

const char* CatName(TraceCat c) {
  switch (c) {
    case TraceCat::kHost:
      return "host";
    case TraceCat::kGuest:
      return "vcpu";
    case TraceCat::kGuestIrq:
      return "irq";
    case TraceCat::kDevice:
      return "dev";
    case TraceCat::kIommu:
      return "post";
    case TraceCat::kLost:
      return "lost";
    case TraceCat::kEvent:
      return "event";
  }
  return "";
}

bool ParseUs(const std::string& v, cost::Ns& out) {
  char* end = nullptr;
  errno = 0;
  const long long us = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || us < 0 || us > INT64_MAX / cost::kUs) return false;
  out = us * cost::kUs;
  return true;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // names hold no control characters
    out += c;
  }
  out += '"';
}

// Simulated nanoseconds as the format's microseconds, exactly: "1234.567".
void AppendMicros(std::string& out, cost::Ns ns) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ns / 1000),
                              static_cast<long long>(ns % 1000));
  out.append(buf, static_cast<size_t>(n));
}

void AppendInt(std::string& out, long long v) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%lld", v);
  out.append(buf, static_cast<size_t>(n));
}

}  // namespace

std::string TraceComponentKeys() {
  return absl::StrJoin(std::begin(kComponents), std::end(kComponents), ", ");
}

absl::StatusOr<TraceFilter> ParseTraceFilter(std::string_view text) {
  TraceFilter f;
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--trace_filter=%s: %s", std::string(text), why));
  };
  if (text.empty()) return bad("empty; expected component=..., vm=N, from_us=N, to_us=N");
  const std::string all(text);
  for (absl::string_view item : absl::StrSplit(all, ',')) {
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return bad(absl::StrFormat("'%s' is not key=value", item));
    }
    const std::string key(item.substr(0, eq));
    const std::string value(item.substr(eq + 1));
    if (key == "component") {
      for (absl::string_view piece : absl::StrSplit(value, '+')) {
        const std::string c(piece);
        if (std::find(std::begin(kComponents), std::end(kComponents), c) == std::end(kComponents)) {
          return bad(absl::StrFormat("unknown component '%s' (known: %s)", c,
                                     TraceComponentKeys()));
        }
        f.components.insert(c);
      }
    } else if (key == "vm") {
      char* end = nullptr;
      const long vm = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || vm < 0 || vm > 63) return bad("vm must be 0..63");
      f.vm = static_cast<int>(vm);
    } else if (key == "from_us") {
      if (!ParseUs(value, f.from)) return bad("from_us must be a number of microseconds");
    } else if (key == "to_us") {
      if (!ParseUs(value, f.to)) return bad("to_us must be a number of microseconds");
    } else {
      return bad(absl::StrFormat("unknown key '%s' (component, vm, from_us, to_us)", key));
    }
  }
  if (f.to < f.from) return bad("to_us is before from_us");
  return f;
}

int Trace::Intern(std::string_view name) {
  auto it = name_ids_.find(std::string(name));
  if (it != name_ids_.end()) return it->second;
  const int id = static_cast<int>(names_.size());
  names_.emplace_back(name);
  name_ids_.emplace(names_.back(), id);
  return id;
}

int Trace::Process(const std::string& component, const std::string& name) {
  if (!enabled_) return -1;
  if (!filter_.components.empty() && filter_.components.count(component) == 0) return -1;
  process_names_.push_back(name);
  return static_cast<int>(process_names_.size());
}

int Trace::Track(int pid, int tid, const std::string& name, int vm) {
  if (pid < 0) return -1;
  if (filter_.vm >= 0 && vm >= 0 && vm != filter_.vm) return -1;
  tracks_.push_back({pid, tid});
  track_names_.push_back(name);
  return static_cast<int>(tracks_.size()) - 1;
}

void Trace::Slice(int track, Ns begin, Ns end, std::string_view name, TraceCat cat) {
  if (track < 0 || !InWindow(begin, end)) return;
  events_.push_back({begin, end - begin, 0, 0, track, Intern(name), 'X', cat});
}

cost::Ns Trace::SerialSlice(int track, Ns at, Ns duration, std::string_view name, TraceCat cat) {
  if (track < 0) return at;
  TrackInfo& t = tracks_[static_cast<size_t>(track)];
  const Ns start = std::max(at, t.serial_end);
  t.serial_end = start + duration;
  Slice(track, start, start + duration, name, cat);
  return start;
}

void Trace::Instant(int track, Ns at, std::string_view name) {
  if (track < 0 || !InWindow(at, at)) return;
  events_.push_back({at, 0, 0, 0, track, Intern(name), 'i', TraceCat::kEvent});
}

void Trace::Counter(int pid, Ns at, std::string_view name, double value) {
  if (pid < 0 || !InWindow(at, at)) return;
  events_.push_back({at, 0, 0, value, -1 - pid, Intern(name), 'C', TraceCat::kEvent});
}

void Trace::Flow(char ph, uint64_t flow, int track, Ns at) {
  if (track < 0 || flow == 0 || !InWindow(at, at)) return;
  events_.push_back({at + 1, 0, flow, 0, track, 0, ph, TraceCat::kEvent});
}

void Trace::Write(std::string& out, FILE* file) const {
  const auto flush = [&] {
    if (file != nullptr && out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), file);
      out.clear();
    }
  };
  out += "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  const auto begin_event = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  for (size_t p = 0; p < process_names_.size(); ++p) {
    begin_event();
    out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":";
    AppendInt(out, static_cast<long long>(p + 1));
    out += ",\"args\":{\"name\":";
    AppendJsonString(out, process_names_[p]);
    out += "}}";
    begin_event();
    out += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":";
    AppendInt(out, static_cast<long long>(p + 1));
    out += ",\"args\":{\"sort_index\":";
    AppendInt(out, static_cast<long long>(p + 1));
    out += "}}";
  }
  for (size_t t = 0; t < tracks_.size(); ++t) {
    for (const char* kind : {"thread_name", "thread_sort_index"}) {
      begin_event();
      out += "{\"ph\":\"M\",\"name\":\"";
      out += kind;
      out += "\",\"pid\":";
      AppendInt(out, tracks_[t].pid);
      out += ",\"tid\":";
      AppendInt(out, tracks_[t].tid);
      out += ",\"args\":{";
      if (kind[7] == 'n') {
        out += "\"name\":";
        AppendJsonString(out, track_names_[t]);
      } else {
        out += "\"sort_index\":";
        AppendInt(out, tracks_[t].tid);
      }
      out += "}}";
    }
  }
  // Sorted by time; events recorded at the same instant keep their order (a slice before the
  // flow step inside it).
  std::vector<uint32_t> order(events_.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [this](uint32_t a, uint32_t b) { return events_[a].ts < events_[b].ts; });
  for (uint32_t i : order) {
    const Event& e = events_[i];
    begin_event();
    out += "{\"ph\":\"";
    out += e.ph;
    out += "\",\"pid\":";
    if (e.ph == 'C') {
      AppendInt(out, -1 - e.track);
      out += ",\"tid\":0";
    } else {
      const TrackInfo& t = tracks_[static_cast<size_t>(e.track)];
      AppendInt(out, t.pid);
      out += ",\"tid\":";
      AppendInt(out, t.tid);
    }
    out += ",\"ts\":";
    AppendMicros(out, e.ts);
    switch (e.ph) {
      case 'X':
        out += ",\"dur\":";
        AppendMicros(out, e.dur);
        [[fallthrough]];
      case 'i':
        out += ",\"name\":";
        AppendJsonString(out, names_[static_cast<size_t>(e.name)]);
        if (e.ph == 'i') {
          out += ",\"s\":\"t\"}";
        } else if (e.cat == TraceCat::kGuestIrq || e.cat == TraceCat::kLost) {
          // Only the slices the flows end in say what they are: the rest need no category.
          out += ",\"cat\":\"";
          out += CatName(e.cat);
          out += "\"}";
        } else {
          out += "}";
        }
        break;
      case 'C': {
        out += ",\"name\":";
        AppendJsonString(out, names_[static_cast<size_t>(e.name)]);
        char buf[40];
        const int n = std::snprintf(buf, sizeof buf, ",\"args\":{\"value\":%.6g}}", e.value);
        out.append(buf, static_cast<size_t>(n));
        break;
      }
      default:  // flows: one name and category for all, told apart by id
        out += ",\"id\":";
        AppendInt(out, static_cast<long long>(e.id));
        out += e.ph == 'f' ? ",\"name\":\"i\",\"cat\":\"f\",\"bp\":\"e\"}"
                           : ",\"name\":\"i\",\"cat\":\"f\"}";
        break;
    }
    flush();
  }
  out += "\n]}\n";
}

std::string Trace::ToJson() const {
  std::string out;
  Write(out, nullptr);
  return out;
}

absl::Status Trace::WriteFile(const std::string& path) const {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--trace=%s: cannot open for writing: %s", path, std::strerror(errno)));
  }
  std::string out;
  Write(out, file);
  std::fwrite(out.data(), 1, out.size(), file);
  if (std::fclose(file) != 0) {
    return absl::InternalError(absl::StrFormat("--trace=%s: write failed", path));
  }
  return absl::OkStatus();
}

}  // namespace host_sim
