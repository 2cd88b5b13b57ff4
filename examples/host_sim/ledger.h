// SPDX-License-Identifier: MIT
// Interrupt accounting: every interrupt a simulated device raises is counted once, and counted
// delivered when a guest's handler consumes it. Interrupts of one source that arrive while an
// earlier one is still pending merge in the hardware (an IRR bit, a pending latch, a held line);
// one handler run then delivers all of them. Whatever is still outstanding when the simulation
// has drained is lost.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "examples/host_sim/cost_model.h"

namespace host_sim {

class InterruptLedger {
 public:
  explicit InterruptLedger(std::string component) : component_(std::move(component)) {}

  // A device raised an interrupt on `source` (a vCPU and vector, a pin, an INTID: any key).
  void Raise(uint64_t source) {
    ++raised_;
    ++outstanding_[source];
  }
  // A guest handler consumed everything `source` had raised. Returns how many interrupts that was.
  uint64_t Deliver(uint64_t source) {
    auto it = outstanding_.find(source);
    if (it == outstanding_.end()) return 0;
    const uint64_t n = it->second;
    delivered_ += n;
    outstanding_.erase(it);
    return n;
  }
  // An interrupt the hardware refused (a fault): lost on the spot.
  void Drop() {
    ++raised_;
    ++dropped_;
  }
  bool Outstanding(uint64_t source) const { return outstanding_.count(source) != 0; }

  const std::string& component() const { return component_; }
  uint64_t raised() const { return raised_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t lost() const {
    uint64_t n = dropped_;
    for (const auto& [source, count] : outstanding_) n += count;
    return n;
  }

 private:
  std::string component_;
  uint64_t raised_ = 0;
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  std::map<uint64_t, uint64_t> outstanding_;  // ordered: deterministic iteration
};

// Latency samples in simulated nanoseconds, summarized as percentiles in microseconds.
class LatencyStats {
 public:
  void Add(cost::Ns ns) { samples_.push_back(ns); }
  size_t count() const { return samples_.size(); }
  double PercentileUs(double p) const {
    if (samples_.empty()) return 0;
    std::vector<cost::Ns> s = samples_;
    std::sort(s.begin(), s.end());
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(s.size() - 1) + 0.5);
    return static_cast<double>(s[std::min(i, s.size() - 1)]) / cost::kUs;
  }
  double MaxUs() const {
    if (samples_.empty()) return 0;
    return static_cast<double>(*std::max_element(samples_.begin(), samples_.end())) / cost::kUs;
  }

 private:
  std::vector<cost::Ns> samples_;
};

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_LEDGER_H_
