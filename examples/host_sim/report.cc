// SPDX-License-Identifier: MIT
#include "examples/host_sim/report.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace host_sim {
namespace {

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}
std::string PadLeft(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) continue;  // no other control characters here
    out += c;
  }
  return out + "\"";
}

}  // namespace

Section& Report::AddSection(std::string key, std::string title) {
  sections.push_back(Section{std::move(key), std::move(title), {}});
  return sections.back();
}

void Report::Mechanism(std::string key, double count) {
  for (Section& s : sections) {
    if (s.key == "mechanisms") {
      s.metrics.push_back({std::move(key), count});
      return;
    }
  }
  AddSection("mechanisms", "mechanisms exercised (each must be non-zero)")
      .metrics.push_back({std::move(key), count});
}

std::string FormatValue(const Metric& m) {
  char buf[64];
  if (m.integer) {
    std::snprintf(buf, sizeof buf, "%.0f", m.value);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", std::round(m.value * 10) / 10);
  }
  return buf;
}

std::string RenderText(const Report& r) {
  std::string out = r.header + "\n\n";
  out += Pad("interrupts", 44) + PadLeft("raised", 10) + PadLeft("delivered", 11) +
         PadLeft("lost", 7) + "\n";
  for (const ComponentCount& c : r.components) {
    out += "  " + Pad(c.title, 42) + PadLeft(std::to_string(c.raised), 10) +
           PadLeft(std::to_string(c.delivered), 11) + PadLeft(std::to_string(c.lost), 7) + "\n";
  }
  for (const Section& s : r.sections) {
    out += "\n" + s.title + "\n";
    std::string line = " ";
    for (const Metric& m : s.metrics) {
      const std::string item = " " + m.key + " " + FormatValue(m);
      if (line.size() + item.size() > 100) {
        out += line + "\n";
        line = " ";
      }
      line += item;
    }
    if (line.size() > 1) out += line + "\n";
  }
  out += "\n";
  if (r.failures.empty()) {
    out += "result: OK (0 lost, every invariant holds)\n";
  } else {
    for (const std::string& f : r.failures) out += "FAIL: " + f + "\n";
  }
  return out;
}

std::string RenderJson(const Report& r) {
  std::string out = "{\n  \"header\": " + JsonString(r.header) + ",\n  \"components\": {";
  for (size_t i = 0; i < r.components.size(); ++i) {
    const ComponentCount& c = r.components[i];
    out += std::string(i == 0 ? "" : ",") + "\n    " + JsonString(c.key) +
           ": {\"title\": " + JsonString(c.title) + ", \"raised\": " + std::to_string(c.raised) +
           ", \"delivered\": " + std::to_string(c.delivered) +
           ", \"lost\": " + std::to_string(c.lost) +
           ", \"baseline\": " + (c.baseline ? "true" : "false") + "}";
  }
  out += "\n  },\n  \"sections\": {";
  for (size_t i = 0; i < r.sections.size(); ++i) {
    const Section& s = r.sections[i];
    out += std::string(i == 0 ? "" : ",") + "\n    " + JsonString(s.key) + ": {";
    for (size_t j = 0; j < s.metrics.size(); ++j) {
      out += std::string(j == 0 ? "" : ", ") + JsonString(s.metrics[j].key) + ": " +
             FormatValue(s.metrics[j]);
    }
    out += "}";
  }
  out += "\n  },\n  \"failures\": [";
  for (size_t i = 0; i < r.failures.size(); ++i) {
    out += std::string(i == 0 ? "" : ", ") + JsonString(r.failures[i]);
  }
  out += "],\n  \"ok\": " + std::string(r.ok() ? "true" : "false") + "\n}\n";
  return out;
}

}  // namespace host_sim
