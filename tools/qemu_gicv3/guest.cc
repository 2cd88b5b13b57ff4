// SPDX-License-Identifier: MIT
// The EL1 guest: runs every differential scenario in every profile through its real ICC_*_EL1
// registers, which HCR_EL2.IMO/FMO turn into QEMU's ICV_* virtual CPU interface, and asks the
// EL2 hypervisor for the host's steps with HVC. Each access is followed by ISB: a maintenance
// interrupt it raised is then taken before the next step (a context synchronization event makes
// a pending interrupt visible, Arm ARM D1.3.6), which is when the fake's driver services it.
#include <cstdint>

#include "tests/vgic/differential/guest_program.h"
#include "tests/vgic/differential/scenarios.h"
#include "tools/qemu_gicv3/image.h"

namespace qemu_image {
namespace {

using irqvirt::vgic::differential::GuestReg;
using irqvirt::vgic::differential::Hypercall;

#define IRQVIRT_GUEST_READ(name) \
  asm volatile("mrs %0, " name "\n\tisb" : "=r"(v) : : "memory")
#define IRQVIRT_GUEST_WRITE(name) \
  asm volatile("msr " name ", %0\n\tisb" : : "r"(value) : "memory")

class El1GuestCpu {
 public:
  uint64_t Read(GuestReg r) {
    uint64_t v = 0;
    switch (r) {
      case GuestReg::kIar0: IRQVIRT_GUEST_READ("S3_0_C12_C8_0"); break;   // ICC_IAR0_EL1
      case GuestReg::kIar1: IRQVIRT_GUEST_READ("S3_0_C12_C12_0"); break;  // ICC_IAR1_EL1
      case GuestReg::kPmr: IRQVIRT_GUEST_READ("S3_0_C4_C6_0"); break;     // ICC_PMR_EL1
      case GuestReg::kRpr: IRQVIRT_GUEST_READ("S3_0_C12_C11_3"); break;   // ICC_RPR_EL1
      case GuestReg::kCtlr: IRQVIRT_GUEST_READ("S3_0_C12_C12_4"); break;  // ICC_CTLR_EL1
      case GuestReg::kIgrpen0: IRQVIRT_GUEST_READ("S3_0_C12_C12_6"); break;
      case GuestReg::kIgrpen1: IRQVIRT_GUEST_READ("S3_0_C12_C12_7"); break;
      default: break;  // EOIR and DIR are write-only
    }
    return v;
  }
  void Write(GuestReg r, uint64_t value) {
    switch (r) {
      case GuestReg::kEoir0: IRQVIRT_GUEST_WRITE("S3_0_C12_C8_1"); break;   // ICC_EOIR0_EL1
      case GuestReg::kEoir1: IRQVIRT_GUEST_WRITE("S3_0_C12_C12_1"); break;  // ICC_EOIR1_EL1
      case GuestReg::kDir: IRQVIRT_GUEST_WRITE("S3_0_C12_C11_1"); break;    // ICC_DIR_EL1
      case GuestReg::kPmr: IRQVIRT_GUEST_WRITE("S3_0_C4_C6_0"); break;
      case GuestReg::kCtlr: IRQVIRT_GUEST_WRITE("S3_0_C12_C12_4"); break;
      case GuestReg::kIgrpen0: IRQVIRT_GUEST_WRITE("S3_0_C12_C12_6"); break;  // ICC_IGRPEN0_EL1
      case GuestReg::kIgrpen1: IRQVIRT_GUEST_WRITE("S3_0_C12_C12_7"); break;  // ICC_IGRPEN1_EL1
      default: break;  // IAR and RPR are read-only
    }
  }
  void Hypercall(Hypercall call, uint32_t a, uint32_t b) {
    register uint64_t x0 asm("x0") = static_cast<uint64_t>(call);
    register uint64_t x1 asm("x1") = a;
    register uint64_t x2 asm("x2") = b;
    asm volatile("hvc #0\n\tisb" : "+r"(x0) : "r"(x1), "r"(x2) : "memory");
  }
};

}  // namespace
}  // namespace qemu_image

extern "C" void guest_main() {
  using namespace irqvirt::vgic::differential;  // NOLINT
  qemu_image::El1GuestCpu cpu;
  GuestProgram<qemu_image::El1GuestCpu> program(cpu, qemu_image::g_log);
  uint32_t failures = 0;
  for (Profile profile : kProfiles) {
    for (uint32_t i = 0; i < kNumScenarios; ++i) failures += program.Run(i, profile);
  }
  cpu.Hypercall(Hypercall::kShutdown, failures, 0);
  for (;;) {
  }
}
