// SPDX-License-Identifier: MIT
// The guest's half of a differential scenario: it performs its steps on its CPU interface and
// asks the hypervisor for the host's steps, logging what it observes. It keeps the bookkeeping a
// guest kernel keeps: the stack of acknowledged interrupts (EOI goes to the newest, as priority
// drop requires) and, with EOImode 1, the interrupts waiting for their DIR. `Cpu` is the only
// thing that differs between the fake and QEMU:
//   uint64_t Read(GuestReg);  void Write(GuestReg, uint64_t);   // MRS / MSR of ICC_*_EL1
//   void Hypercall(Hypercall, uint32_t, uint32_t);              // HVC
// Each access is followed by a context synchronization on QEMU, so a maintenance interrupt it
// raises is taken before the next step, as the fake's driver services it.
#ifndef IRQVIRT_TESTS_VGIC_DIFFERENTIAL_GUEST_PROGRAM_H_
#define IRQVIRT_TESTS_VGIC_DIFFERENTIAL_GUEST_PROGRAM_H_

#include <cstdint>

#include "tests/vgic/differential/observation_log.h"
#include "tests/vgic/differential/scenarios.h"

namespace irqvirt::vgic::differential {

enum class GuestReg : uint8_t {
  kIar0, kIar1, kEoir0, kEoir1, kDir, kPmr, kRpr, kCtlr, kIgrpen0, kIgrpen1
};

template <typename Cpu>
class GuestProgram {
 public:
  GuestProgram(Cpu& cpu, ObservationLog& log) : cpu_(cpu), log_(log) {}

  // Runs scenario `index` under `profile`, between the host's Begin and End. Returns the number
  // of the guest's expectations that failed.
  int Run(uint32_t index, Profile profile) {
    const Scenario& s = kScenarios[index];
    failures_ = 0;
    acked_ = 0;
    waiting_ = 0;
    eoi_mode_ = 0;
    cpu_.Hypercall(Hypercall::kBegin, index, static_cast<uint32_t>(profile));
    for (uint32_t i = 0; i < s.num_steps; ++i) {
      const Step& step = s.steps[i];
      if (IsHostStep(step.op)) {
        cpu_.Hypercall(Hypercall::kHostStep, index, i);
      } else {
        GuestStep(step);
      }
    }
    if (acked_ != 0 || waiting_ != 0) {
      log_.Printf("FAIL guest: %u acknowledged without EOI, %u waiting for DIR", {acked_, waiting_});
      ++failures_;
    }
    cpu_.Hypercall(Hypercall::kEnd, index, 0);
    return failures_;
  }

 private:
  struct Taken {
    uint32_t intid;
    uint32_t group;
  };

  void GuestStep(const Step& step) {
    switch (step.op) {
      case Op::kSetEoiMode: {
        // As Linux's GICv3 driver does: the EOImode bit alone (CBPR 0; the rest is read-only).
        const uint64_t eoi_mode_bit = 1u << 1;  // ICC_CTLR_EL1.EOImode
        cpu_.Write(GuestReg::kCtlr, step.a != 0 ? eoi_mode_bit : 0);
        eoi_mode_ = (cpu_.Read(GuestReg::kCtlr) & eoi_mode_bit) != 0 ? 1 : 0;
        log_.Printf("guest eoimode %u", {eoi_mode_});
        Expect(eoi_mode_ == step.a, "EOImode", step.a, eoi_mode_);
        break;
      }
      case Op::kSetPmr: {
        cpu_.Write(GuestReg::kPmr, step.a);
        const uint64_t read = cpu_.Read(GuestReg::kPmr);
        log_.Printf("guest pmr 0x%x reads 0x%x", {step.a, read});
        Expect(read == step.b, "PMR", step.b, read);
        break;
      }
      case Op::kGroupEnable:
        cpu_.Write(step.a == 0 ? GuestReg::kIgrpen0 : GuestReg::kIgrpen1, step.b);
        log_.Printf("guest group%u %s", {step.a, step.b != 0 ? "enabled" : "disabled"});
        break;
      case Op::kAck: {
        const uint64_t iar = cpu_.Read(step.a == 0 ? GuestReg::kIar0 : GuestReg::kIar1);
        const auto intid = static_cast<uint32_t>(iar & 0xffffff);  // ICC_IAR<n>_EL1.INTID
        log_.Printf("guest ack group%u %u", {step.a, intid});
        Expect(intid == step.b, "acknowledged INTID", step.b, intid);
        if (intid != kSpurious && acked_ < kMaxTaken) stack_[acked_++] = {intid, step.a};
        break;
      }
      case Op::kEoi: {
        if (acked_ == 0) {
          log_.Printf("FAIL guest: EOI with nothing acknowledged");
          ++failures_;
          break;
        }
        const Taken t = stack_[--acked_];
        cpu_.Write(t.group == 0 ? GuestReg::kEoir0 : GuestReg::kEoir1, t.intid);
        log_.Printf("guest eoi %u", {t.intid});
        if (eoi_mode_ != 0 && waiting_ < kMaxTaken) waiting_list_[waiting_++] = t.intid;
        break;
      }
      case Op::kDir: {
        if (step.a >= waiting_) {
          log_.Printf("FAIL guest: DIR of position %u, %u waiting", {step.a, waiting_});
          ++failures_;
          break;
        }
        const uint32_t intid = waiting_list_[step.a];
        for (uint32_t i = step.a; i + 1 < waiting_; ++i) waiting_list_[i] = waiting_list_[i + 1];
        --waiting_;
        cpu_.Write(GuestReg::kDir, intid);
        log_.Printf("guest dir %u", {intid});
        break;
      }
      case Op::kReadRpr: {
        const uint64_t rpr = cpu_.Read(GuestReg::kRpr);
        log_.Printf("guest rpr 0x%x", {rpr});
        Expect(rpr == step.b, "running priority", step.b, rpr);
        break;
      }
      default:
        break;
    }
  }

  void Expect(bool holds, const char* what, uint64_t expected, uint64_t got) {
    if (holds) return;
    log_.Printf("FAIL guest: %s 0x%x expected, 0x%x observed", {what, expected, got});
    ++failures_;
  }

  static constexpr uint32_t kMaxTaken = 64;
  Cpu& cpu_;
  ObservationLog& log_;
  Taken stack_[kMaxTaken] = {};
  uint32_t waiting_list_[kMaxTaken] = {};
  uint32_t acked_ = 0;
  uint32_t waiting_ = 0;
  uint32_t eoi_mode_ = 0;
  int failures_ = 0;
};

}  // namespace irqvirt::vgic::differential

#endif  // IRQVIRT_TESTS_VGIC_DIFFERENTIAL_GUEST_PROGRAM_H_
