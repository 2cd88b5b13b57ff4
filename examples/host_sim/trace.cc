// SPDX-License-Identifier: MIT
#include "examples/host_sim/trace.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace host_sim {
namespace {

constexpr const char* kComponents[] = {"x86_galog",   "x86_gappi",   "x86_vtd",
                                       "x86_baseline", "arm64_gicv3", "arm64_gicv5"};


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

// Writes `v` in decimal so that it ends just before `end`; returns where it starts.
char* FormatInt(long long v, char* end) {
  char* p = end;
  const bool negative = v < 0;
  unsigned long long u = negative ? 0ull - static_cast<unsigned long long>(v)
                                  : static_cast<unsigned long long>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative) *--p = '-';
  return p;
}

void AppendInt(std::string& out, long long v) {
  char buf[24];
  const char* p = FormatInt(v, buf + sizeof buf);
  out.append(p, static_cast<size_t>(buf + sizeof buf - p));
}


// Writes events through a small buffer: a few memcpys per event, no formatting library.
class Emitter {
 public:
  Emitter(std::string& out, FILE* file) : out_(out), file_(file), p_(buf_) {}
  // Every event fits in what Room leaves.
  void Room() {
    if (p_ + kEventMax > buf_ + sizeof buf_) Drain();
  }
  template <size_t N>
  void Lit(const char (&s)[N]) {
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  void Str(const std::string& s) {
    if (p_ + s.size() > buf_ + sizeof buf_) {  // a name longer than kEventMax: never ours
      Drain();
      if (s.size() > sizeof buf_) {
        p_ = buf_;
        if (file_ != nullptr) {
          std::fwrite(s.data(), 1, s.size(), file_);
        } else {
          out_.append(s);
        }
        return;
      }
    }
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Char(char c) { *p_++ = c; }
  void Int(long long v) {
    char tmp[24];
    const char* q = FormatInt(v, tmp + sizeof tmp);
    const size_t n = static_cast<size_t>(tmp + sizeof tmp - q);
    std::memcpy(p_, q, n);
    p_ += n;
  }
  void Micros(cost::Ns ns) {
    Int(static_cast<long long>(ns / 1000));
    const int frac = static_cast<int>(ns % 1000);
    p_[0] = '.';
    p_[1] = static_cast<char>('0' + frac / 100);
    p_[2] = static_cast<char>('0' + frac / 10 % 10);
    p_[3] = static_cast<char>('0' + frac % 10);
    p_ += 4;
  }
  void Drain() {
    if (file_ != nullptr) {
      std::fwrite(buf_, 1, static_cast<size_t>(p_ - buf_), file_);
    } else {
      out_.append(buf_, static_cast<size_t>(p_ - buf_));
    }
    p_ = buf_;
  }

 private:
  static constexpr size_t kEventMax = 1024;  // names are short; a track's ids are two ints
  std::string& out_;
  FILE* file_;
  char buf_[1 << 16];
  char* p_;
};

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

int Trace::Name(std::string_view name) {
  if (!enabled_) return -1;
  auto it = name_ids_.find(absl::string_view(name.data(), name.size()));
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

void Trace::Slice(int track, Ns begin, Ns end, int name, TraceCat cat) {
  if (track < 0 || !InWindow(begin, end)) return;
  events_.push_back({begin, end - begin, 0, track, name, 'X', cat});
}

cost::Ns Trace::SerialSlice(int track, Ns at, Ns duration, int name, TraceCat cat) {
  if (track < 0) return at;
  TrackInfo& t = tracks_[static_cast<size_t>(track)];
  const Ns start = std::max(at, t.serial_end);
  t.serial_end = start + duration;
  Slice(track, start, start + duration, name, cat);
  return start;
}

void Trace::Instant(int track, Ns at, std::string_view name) {
  if (track < 0 || !InWindow(at, at)) return;
  events_.push_back({at, 0, 0, track, Name(name), 'i', TraceCat::kEvent});
}

void Trace::Counter(int pid, Ns at, std::string_view name, int64_t count) {
  if (pid < 0 || !InWindow(at, at)) return;
  events_.push_back({at, 0, count, -1 - pid, Name(name), 'C', TraceCat::kEvent});
}

void Trace::Flow(char ph, uint64_t flow, int track, Ns at) {
  if (track < 0 || flow == 0 || !InWindow(at, at)) return;
  events_.push_back({at + 1, 0, static_cast<int64_t>(flow), track, 0, ph, TraceCat::kEvent});
}

void Trace::Write(std::string& out, FILE* file) const {
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
  // flow step inside it): a stable LSD radix sort on the timestamp, 11 bits a pass.
  std::vector<uint32_t> order(events_.size()), spare(events_.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  Ns latest = 0;
  for (size_t i = 0; i < events_.size(); ++i) latest = std::max(latest, events_[i].ts);
  for (int shift = 0; shift < 64 && (latest >> shift) != 0; shift += 11) {
    uint32_t count[2049] = {};
    for (uint32_t i : order) ++count[((events_[i].ts >> shift) & 2047) + 1];
    for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
    for (uint32_t i : order) spare[count[(events_[i].ts >> shift) & 2047]++] = i;
    order.swap(spare);
  }
  // What every event of a track or name repeats, rendered once.
  std::vector<std::string> track_json(tracks_.size()), name_json(names_.size());
  for (size_t t = 0; t < tracks_.size(); ++t) {
    AppendInt(track_json[t], tracks_[t].pid);
    track_json[t] += ",\"tid\":";
    AppendInt(track_json[t], tracks_[t].tid);
  }
  for (size_t n = 0; n < names_.size(); ++n) {
    name_json[n] = ",\"name\":";
    AppendJsonString(name_json[n], names_[n]);
  }
  // The events: through a small buffer, straight into the file (or `out`).
  if (file != nullptr) {
    std::fwrite(out.data(), 1, out.size(), file);
    out.clear();
  } else {
    out.reserve(out.size() + events_.size() * 80);
  }
  Emitter w(out, file);
  for (uint32_t i : order) {
    const Event& e = events_[i];
    w.Room();
    if (first) {
      w.Lit("{\"ph\":\"");
    } else {
      w.Lit(",\n{\"ph\":\"");
    }
    first = false;
    w.Char(e.ph);
    w.Lit("\",\"pid\":");
    if (e.ph == 'C') {
      w.Int(-1 - e.track);
      w.Lit(",\"tid\":0");
    } else {
      w.Str(track_json[static_cast<size_t>(e.track)]);
    }
    w.Lit(",\"ts\":");
    w.Micros(e.ts);
    switch (e.ph) {
      case 'X':
        w.Lit(",\"dur\":");
        w.Micros(e.dur);
        w.Str(name_json[static_cast<size_t>(e.name)]);
        // Only the slices the flows end in say what they are: the rest need no category.
        if (e.cat == TraceCat::kGuestIrq) {
          w.Lit(",\"cat\":\"irq\"}");
        } else if (e.cat == TraceCat::kLost) {
          w.Lit(",\"cat\":\"lost\"}");
        } else {
          w.Lit("}");
        }
        break;
      case 'i':
        w.Str(name_json[static_cast<size_t>(e.name)]);
        w.Lit(",\"s\":\"t\"}");
        break;
      case 'C':
        w.Str(name_json[static_cast<size_t>(e.name)]);
        w.Lit(",\"args\":{\"value\":");
        w.Int(e.id);
        w.Lit("}}");
        break;
      default:  // flows: one name and category for all, told apart by id
        w.Lit(",\"id\":");
        w.Int(e.id);
        if (e.ph == 'f') {
          w.Lit(",\"name\":\"i\",\"cat\":\"f\",\"bp\":\"e\"}");
        } else {
          w.Lit(",\"name\":\"i\",\"cat\":\"f\"}");
        }
        break;
    }
  }
  w.Drain();
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
