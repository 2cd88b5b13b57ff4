// SPDX-License-Identifier: MIT
// Prints the observation log of every differential scenario run on the fake, in the format the
// QEMU image prints (tools/qemu_gicv3/run.sh compares the two). Exits 1 if an expectation failed.
#include <cstdio>

#include "tests/vgic/differential/fake_run.h"

int main() {
  static irqvirt::vgic::differential::ObservationLog log;
  const int failures = irqvirt::vgic::differential::RunAllOnFake(
      log, [](irqvirt::vgic::differential::ObservationLog& l) {
        std::fputs(l.text(), stdout);
        l.Clear();
      });
  return failures == 0 ? 0 : 1;
}
