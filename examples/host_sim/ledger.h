// SPDX-License-Identifier: MIT
// Interrupt accounting, as an oracle: every interrupt a simulated device raises is an obligation
// that a guest handler must meet, and the ledger never takes the hardware's word for a merge.
//
// Interrupts of one source that arrive while the hardware already holds a pending state for it
// (an IRR or PIR bit, an LR in Pending, a pending latch, a line that is still high) merge in the
// hardware: one handler run then meets all of them. The host tells the ledger, at each raise,
// whether the modelled hardware really held such a state at that instant (`held`); only then
// does the raise join the source's newest undelivered obligation. Otherwise it is an obligation
// of its own, and a handler run meets one obligation. So a raise the hardware dropped is never
// credited to a later one: it stays outstanding, and the host's checks name it.
//
// Level devices whose handler services some of their work items at a time meet raises, not
// obligations (DeliverRaises): the oldest raises first.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "examples/host_sim/cost_model.h"

namespace host_sim {

// Latency samples in simulated nanoseconds, summarized as percentiles in microseconds.
class LatencyStats {
 public:
  void Add(cost::Ns ns) {
    samples_.push_back(ns);
    sorted_ = false;
  }
  size_t count() const { return samples_.size(); }
  double PercentileUs(double p) const {
    if (samples_.empty()) return 0;
    Sort();
    const size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(samples_.size() - 1) + 0.5);
    return static_cast<double>(samples_[std::min(i, samples_.size() - 1)]) / cost::kUs;
  }
  double MaxUs() const {
    if (samples_.empty()) return 0;
    Sort();
    return static_cast<double>(samples_.back()) / cost::kUs;
  }

 private:
  void Sort() const {
    if (!sorted_) std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  mutable std::vector<cost::Ns> samples_;
  mutable bool sorted_ = true;
};

class InterruptLedger {
 public:
  // One raise: when, and its flow in the trace (0 without a trace).
  struct Raise {
    cost::Ns at;
    uint64_t flow;
  };

  explicit InterruptLedger(std::string component) : component_(std::move(component)) {}

  // A device raised `source` at `now`; `held`: the hardware already held a pending state for it.
  void Add(uint64_t source, bool held, cost::Ns now, uint64_t flow) {
    ++raised_;
    std::deque<Obligation>& q = outstanding_[source];
    if (held && !q.empty()) {
      ++merged_;
      q.back().raises.push_back({now, flow});
      return;
    }
    q.push_back(Obligation{{{now, flow}}});
  }

  // A guest handler took `source`'s pending state: its oldest obligation is met. Calls
  // `met(raise)` for each raise it held; returns how many. 0: the handler ran for nothing the
  // ledger owed (a re-delivery of a level line with no work, for example).
  template <typename F>
  size_t DeliverObligation(uint64_t source, cost::Ns now, F&& met) {
    auto it = outstanding_.find(source);
    if (it == outstanding_.end()) {
      ++empty_deliveries_;
      return 0;
    }
    const Obligation o = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) outstanding_.erase(it);
    for (const Raise& r : o.raises) Met(r, now, met);
    return o.raises.size();
  }

  // A level device's handler serviced `n` of `source`'s work items: the `n` oldest raises.
  template <typename F>
  size_t DeliverRaises(uint64_t source, uint64_t n, cost::Ns now, F&& met) {
    auto it = outstanding_.find(source);
    if (it == outstanding_.end()) {
      ++empty_deliveries_;
      return 0;
    }
    size_t done = 0;
    while (done < n && !it->second.empty()) {
      Obligation& o = it->second.front();
      const size_t take = std::min<size_t>(n - done, o.raises.size());
      for (size_t i = 0; i < take; ++i) Met(o.raises[i], now, met);
      o.raises.erase(o.raises.begin(), o.raises.begin() + static_cast<std::ptrdiff_t>(take));
      done += take;
      if (o.raises.empty()) it->second.pop_front();
    }
    if (it->second.empty()) outstanding_.erase(it);
    return done;
  }

  // The hardware refused the interrupt (a fault): lost on the spot.
  void Refused() {
    ++raised_;
    ++refused_;
  }

  bool Outstanding(uint64_t source) const { return outstanding_.count(source) != 0; }
  size_t Obligations(uint64_t source) const {
    auto it = outstanding_.find(source);
    return it == outstanding_.end() ? 0 : it->second.size();
  }
  // The oldest undelivered raise of `source` (nullopt: none).
  std::optional<cost::Ns> OldestOf(uint64_t source) const {
    auto it = outstanding_.find(source);
    if (it == outstanding_.end()) return std::nullopt;
    return it->second.front().raises.front().at;
  }
  // The oldest undelivered raise of all: (source, when).
  std::optional<std::pair<uint64_t, cost::Ns>> Oldest() const {
    std::optional<std::pair<uint64_t, cost::Ns>> best;
    for (const auto& [source, q] : outstanding_) {
      const cost::Ns at = q.front().raises.front().at;
      if (!best || at < best->second) best = {source, at};
    }
    return best;
  }
  // The first source (in source order) with raises owed whose pending state is gone, as
  // `held(source)` says: nothing left in the hardware could deliver them. nullopt: none.
  template <typename Held>
  std::optional<uint64_t> FirstUnheld(Held&& held) const {
    for (const auto& [source, q] : outstanding_) {
      if (!held(source)) return source;
    }
    return std::nullopt;
  }
  // "<what> raised at T us is still undelivered after N us (bound B us)" when the oldest raise
  // is older than `bound` at `now`; `what(source)` names its source. nullopt: within the bound.
  template <typename What>
  std::optional<std::pair<uint64_t, std::string>> Overdue(cost::Ns now, cost::Ns bound,
                                                          What&& what) const {
    const auto oldest = Oldest();
    if (!oldest || now - oldest->second <= bound) return std::nullopt;
    char text[200];
    std::snprintf(text, sizeof text,
                  " raised at %.3f us is still undelivered after %.0f us (bound %.0f us)",
                  static_cast<double>(oldest->second) / cost::kUs,
                  static_cast<double>(now - oldest->second) / cost::kUs,
                  static_cast<double>(bound) / cost::kUs);
    return std::make_pair(oldest->first, what(oldest->first) + text);
  }

  // fn(source, raises) for every source with something outstanding, in source order.
  template <typename F>
  void ForEachOutstanding(F&& fn) const {
    for (const auto& [source, q] : outstanding_) {
      std::vector<Raise> raises;
      for (const Obligation& o : q) raises.insert(raises.end(), o.raises.begin(), o.raises.end());
      fn(source, raises);
    }
  }

  // fn(source, raise) for every undelivered raise of the sources in [lo, hi].
  template <typename F>
  void ForEachRaiseIn(uint64_t lo, uint64_t hi, F&& fn) const {
    for (auto it = outstanding_.lower_bound(lo); it != outstanding_.end() && it->first <= hi;
         ++it) {
      for (const Obligation& o : it->second) {
        for (const Raise& r : o.raises) fn(it->first, r);
      }
    }
  }

  const std::string& component() const { return component_; }
  uint64_t raised() const { return raised_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t merged() const { return merged_; }
  uint64_t empty_deliveries() const { return empty_deliveries_; }
  uint64_t lost() const {
    uint64_t n = refused_;
    for (const auto& [source, q] : outstanding_) {
      for (const Obligation& o : q) n += o.raises.size();
    }
    return n;
  }
  const LatencyStats& latency() const { return latency_; }

 private:
  struct Obligation {
    std::vector<Raise> raises;
  };
  template <typename F>
  void Met(const Raise& r, cost::Ns now, F& met) {
    ++delivered_;
    latency_.Add(now - r.at);
    met(r);
  }

  std::string component_;
  uint64_t raised_ = 0, delivered_ = 0, merged_ = 0, refused_ = 0, empty_deliveries_ = 0;
  std::map<uint64_t, std::deque<Obligation>> outstanding_;  // ordered: deterministic iteration
  LatencyStats latency_;
};

// What happened to one subject (a vCPU, an INTID, a line) lately, for the story a failure
// prints. Recording is a few stores; formatting happens only when a story is told.
class StoryLog {
 public:
  // A literal with up to three %lld / %llx conversions (flags allowed: "%#llx"), checked when it
  // is compiled: a wrong conversion would read a, b, c as something else when the story is told.
  class Format {
   public:
    consteval Format(const char* text) : text_(text) {  // NOLINT: implicit from a literal
      int conversions = 0;
      for (const char* p = text; *p != '\0'; ++p) {
        if (*p != '%') continue;
        ++p;
        if (*p == '%') continue;
        while (*p == '#' || *p == '-' || *p == '0' || (*p >= '1' && *p <= '9') || *p == '.') ++p;
        if (p[0] != 'l' || p[1] != 'l' || (p[2] != 'd' && p[2] != 'x' && p[2] != 'u')) {
          throw "story formats take %lld, %llu or %llx only";  // not a constant expression
        }
        p += 2;
        ++conversions;
      }
      if (conversions > 3) throw "story formats take at most three arguments";
    }
    const char* text() const { return text_; }

   private:
    const char* text_;
  };

  void Add(uint64_t subject, cost::Ns at, Format fmt, long long a = 0, long long b = 0,
           long long c = 0) {
    Ring& r = rings_[subject];
    r.entries[r.next % kDepth] = {at, fmt.text(), a, b, c};
    ++r.next;
  }
  // The last few entries of `subject`, oldest first, one per line, indented.
  std::string Tell(uint64_t subject, const std::string& title) const;

 private:
  static constexpr size_t kDepth = 20;
  struct Entry {
    cost::Ns at = 0;
    const char* fmt = nullptr;
    long long a = 0, b = 0, c = 0;
  };
  struct Ring {
    Entry entries[kDepth];
    uint64_t next = 0;
  };
  std::map<uint64_t, Ring> rings_;
};

inline std::string StoryLog::Tell(uint64_t subject, const std::string& title) const {
  std::string out = "\n    story of " + title + " (simulated us):";
  auto it = rings_.find(subject);
  if (it == rings_.end()) return out + " nothing recorded";
  const Ring& r = it->second;
  const uint64_t first = r.next > kDepth ? r.next - kDepth : 0;
  for (uint64_t i = first; i < r.next; ++i) {
    const Entry& e = r.entries[i % kDepth];
    char text[200];
    // The formats are the literals passed to Add.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    std::snprintf(text, sizeof text, e.fmt, e.a, e.b, e.c);
#pragma GCC diagnostic pop
    char line[260];
    std::snprintf(line, sizeof line, "\n      %10.3f  %s", static_cast<double>(e.at) / cost::kUs,
                  text);
    out += line;
  }
  return out;
}

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_
