// SPDX-License-Identifier: MIT
// bazel run //tools:decode -- <kind> <hex words...>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/decode.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const irqvirt::tools::DecodeResult r = irqvirt::tools::Decode(args);
  std::fputs(r.out.c_str(), stdout);
  std::fputs(r.err.c_str(), stderr);
  return r.exit_code;
}
