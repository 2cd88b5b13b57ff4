// SPDX-License-Identifier: MIT
// The differential scenarios on the fake GICv3 virtual CPU interface (hosted): the guest's
// ICC_* accesses go through the fake's ICV_* model, a trapped one exits to the host as on
// hardware, and after every guest operation the vCPU exits for as long as the maintenance
// interrupt is asserted, which is when QEMU's CPU takes it (the guest synchronizes context after
// each access). Four list registers and 5 priority and preemption bits, as QEMU's cortex-a57.
#ifndef IRQVIRT_TESTS_VGIC_DIFFERENTIAL_FAKE_RUN_H_
#define IRQVIRT_TESTS_VGIC_DIFFERENTIAL_FAKE_RUN_H_

#include <cstdint>

#include "hw/arm/icc_sysregs.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/fake/fake_physical_gic.h"
#include "hw/fake/logical_platform.h"
#include "tests/vgic/differential/guest_program.h"
#include "tests/vgic/differential/host_vcpu.h"
#include "tests/vgic/differential/observation_log.h"
#include "tests/vgic/differential/scenarios.h"

namespace irqvirt::vgic::differential {

inline hw::arm::SysRegEncoding EncodingOf(GuestReg r) {
  using namespace hw::arm;  // NOLINT: the ICC_* encodings
  switch (r) {
    case GuestReg::kIar0: return kIccIar0El1;
    case GuestReg::kIar1: return kIccIar1El1;
    case GuestReg::kEoir0: return kIccEoir0El1;
    case GuestReg::kEoir1: return kIccEoir1El1;
    case GuestReg::kDir: return kIccDirEl1;
    case GuestReg::kPmr: return kIccPmrEl1;
    case GuestReg::kRpr: return kIccRprEl1;
    case GuestReg::kCtlr: return kIccCtlrEl1;
    case GuestReg::kIgrpen0: return kIccIgrpen0El1;
    case GuestReg::kIgrpen1: return kIccIgrpen1El1;
  }
  return kIccRprEl1;
}

class FakeRun {
 public:
  using Host = HostVcpu<hw::fake::LogicalPlatform, hw::fake::FakeGicV3CpuInterface>;
  static constexpr int kListRegisters = 4;

  // The guest's CPU as GuestProgram drives it.
  class GuestCpu {
   public:
    explicit GuestCpu(FakeRun& run) : run_(run) {}
    uint64_t Read(GuestReg r) {
      const hw::arm::SysRegEncoding e = EncodingOf(r);
      const auto access = run_.cpu_.GuestRead(e);
      const uint64_t value = access.trapped ? run_.host_.SysRegTrap(e, false, 0) : access.value;
      run_.AfterGuestOperation();
      return value;
    }
    void Write(GuestReg r, uint64_t value) {
      const hw::arm::SysRegEncoding e = EncodingOf(r);
      if (run_.cpu_.GuestWrite(e, value).trapped) run_.host_.SysRegTrap(e, true, value);
      run_.AfterGuestOperation();
    }
    void Hypercall(Hypercall call, uint32_t a, uint32_t b) {
      switch (call) {
        case Hypercall::kBegin:
          run_.host_.Begin(a, static_cast<Profile>(b));
          break;
        case Hypercall::kHostStep:
          run_.host_.HostStep(a, b);
          break;
        case Hypercall::kEnd:
          run_.host_.End();
          return;
        case Hypercall::kShutdown:
          return;
      }
      run_.AfterGuestOperation();
    }

   private:
    FakeRun& run_;
  };

  FakeRun(Profile profile, ObservationLog& log)
      : platform_(1, 1),
        cpu_({.num_list_registers = kListRegisters, .tdir_supported = profile != Profile::kTc},
             &physical_),
        host_(platform_, cpu_, &physical_, log),
        guest_cpu_(*this),
        program_(guest_cpu_, log),
        profile_(profile) {}

  // Runs scenario `index`; returns the failures the guest and the host logged.
  int Run(uint32_t index) {
    const int guest_failures = program_.Run(index, profile_);
    return guest_failures + host_.failures();
  }
  const hw::fake::FakeGicV3CpuInterface& cpu() const { return cpu_; }

 private:
  void AfterGuestOperation() {
    host_.GuestProgressed();
    while (host_.in_guest() && cpu_.maintenance_interrupt()) {
      if (!host_.MaintenanceExit()) return;
      host_.Enter();
    }
  }

  hw::fake::LogicalPlatform platform_;
  hw::fake::FakePhysicalGic physical_;
  hw::fake::FakeGicV3CpuInterface cpu_;
  Host host_;
  GuestCpu guest_cpu_;
  GuestProgram<GuestCpu> program_;
  Profile profile_;
};

// Every scenario in every profile, as the QEMU image runs them, into `log`. Returns the number of
// failed expectations.
inline int RunAllOnFake(ObservationLog& log, void (*flush)(ObservationLog&)) {
  int failures = 0;
  for (Profile profile : kProfiles) {
    for (uint32_t i = 0; i < kNumScenarios; ++i) {
      FakeRun run(profile, log);
      failures += run.Run(i);
      flush(log);
    }
  }
  return failures;
}

}  // namespace irqvirt::vgic::differential

#endif  // IRQVIRT_TESTS_VGIC_DIFFERENTIAL_FAKE_RUN_H_
