// SPDX-License-Identifier: MIT
// ./bazelw run //examples:host_sim -- [flags]   (--help lists them)
#include <iostream>
#include <string>
#include <vector>

#include "examples/host_sim/simulation.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return host_sim::HostSimMain(args, std::cout, std::cerr);
}
