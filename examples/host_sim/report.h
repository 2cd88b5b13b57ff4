// SPDX-License-Identifier: MIT
// The simulation's results as data, and their two renderings (text for people, JSON for
// machines). Both are made from the same Report, so they always carry the same numbers.
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_REPORT_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace host_sim {

// Raised / delivered / lost for one component (a kind of interrupt on one side of the host).
struct ComponentCount {
  std::string key;    // stable, for JSON: "x86_posted_msi"
  std::string title;  // for people: "x86 posted MSIs"
  uint64_t raised = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;
  // A baseline's numbers (shown beside irqvirt's; its losses are expected and never fail a run).
  bool baseline = false;
};

struct Metric {
  std::string key;  // JSON key, also printed in the text report
  double value = 0;
  bool integer = true;
};

struct Section {
  std::string key;    // JSON object name: "x86_posted"
  std::string title;  // text heading
  std::vector<Metric> metrics;
};

struct Report {
  std::string header;  // the run's parameters, one line
  std::vector<ComponentCount> components;
  std::vector<Section> sections;
  std::vector<std::string> failures;  // lost interrupts and broken invariants, by name

  Section& AddSection(std::string key, std::string title);
  // A count of one mechanism the run exercised (section "mechanisms": a correct run must show
  // every one of them non-zero, or its checks would prove nothing).
  void Mechanism(std::string key, double count);
  bool ok() const { return failures.empty(); }
};

// "12345" for integers, "12.3" for the rest (one decimal).
std::string FormatValue(const Metric& m);
std::string RenderText(const Report& report);
std::string RenderJson(const Report& report);

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_REPORT_H_
