// SPDX-License-Identifier: MIT
// What the image's EL2 hypervisor (el2.cc) and its EL1 guest (guest.cc) share: the observation
// log both append to, and the guest's entry point.
#ifndef IRQVIRT_TOOLS_QEMU_GICV3_IMAGE_H_
#define IRQVIRT_TOOLS_QEMU_GICV3_IMAGE_H_

#include "tests/vgic/differential/observation_log.h"

namespace qemu_image {
extern irqvirt::vgic::differential::ObservationLog g_log;
}  // namespace qemu_image

extern "C" [[noreturn]] void guest_main();

#endif  // IRQVIRT_TOOLS_QEMU_GICV3_IMAGE_H_
