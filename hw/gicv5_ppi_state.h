// SPDX-License-Identifier: MIT
// A GICv5 vCPU's PPI state as the hypervisor moves it around guest entry and exit: the
// ICH_PPI_PENDR<n>_EL2 and ICH_PPI_ACTIVER<n>_EL2 pairs (128 PPIs, bit p%64 of register p/64;
// gic.md §4.3, §4.4). The vGIC core writes `pendr` before entry and reads both after exit.
#ifndef IRQVIRT_HW_GICV5_PPI_STATE_H_
#define IRQVIRT_HW_GICV5_PPI_STATE_H_

#include <cstdint>

namespace hw {

struct Gicv5PpiState {
  static constexpr int kNumPpis = 128;
  uint64_t pendr[2] = {0, 0};
  uint64_t activer[2] = {0, 0};
};

}  // namespace hw

#endif  // IRQVIRT_HW_GICV5_PPI_STATE_H_
