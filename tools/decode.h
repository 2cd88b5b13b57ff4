// SPDX-License-Identifier: MIT
// The register decoder behind `bazel run //tools:decode`: prints every field of a raw value by
// name and flags non-zero reserved bits.
#ifndef IRQVIRT_TOOLS_DECODE_H_
#define IRQVIRT_TOOLS_DECODE_H_

#include <string>
#include <vector>

namespace irqvirt::tools {

struct DecodeResult {
  int exit_code;    // 0 decoded, 2 usage error (unknown kind, malformed hex, wrong word count)
  std::string out;  // decoded fields
  std::string err;  // usage message or diagnostics
};

// args excludes the program name: {kind, hex words...}.
DecodeResult Decode(const std::vector<std::string>& args);

}  // namespace irqvirt::tools

#endif  // IRQVIRT_TOOLS_DECODE_H_
