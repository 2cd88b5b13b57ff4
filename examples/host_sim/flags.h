// SPDX-License-Identifier: MIT
// The command line: --name=value flags for every SimOptions field (see Usage()).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_FLAGS_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "examples/host_sim/options.h"

namespace host_sim {

struct ParsedFlags {
  SimOptions options;
  bool help = false;
};

// InvalidArgument names the flag and what it accepts.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args);
std::string Usage();

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_FLAGS_H_
