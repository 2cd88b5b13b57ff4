// SPDX-License-Identifier: MIT
// The hypervisor's half of a differential scenario: one vCPU's run loop around irqvirt's vGIC
// core and GICv3 backend, as an embedder writes it. The same code runs hosted over the fake
// virtual CPU interface and at EL2 in the QEMU image over Aarch64SysRegAccessor (mrs/msr);
// `Accessor` is the only difference. Each exit saves the CPU interface and folds it, logs why it
// happened (with ICH_MISR_EL2 as saved), does what the exit asks for, flushes and restores:
//   maintenance interrupt  -> MaintenanceExit(); Enter()   (the IRQ glue EOIs between the two)
//   trapped ICV_DIR_EL1    -> Save, Fold, HandleDirTrap, Enter
//   other trapped ICV_*    -> Save, EmulateCpuInterfaceAccess, Fold, Enter
//   hypercall              -> Save, Fold, the host's step, Flush, Restore
#ifndef IRQVIRT_TESTS_VGIC_DIFFERENTIAL_HOST_VCPU_H_
#define IRQVIRT_TESTS_VGIC_DIFFERENTIAL_HOST_VCPU_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "hw/arm/gicv3_cpu_interface.h"
#include "hw/arm/gicv3_regs.h"
#include "hw/arm/icc_sysregs.h"
#include "hw/physical_gic.h"
#include "irqvirt/vgic/vgic.h"
#include "tests/vgic/differential/observation_log.h"
#include "tests/vgic/differential/scenarios.h"

namespace irqvirt::vgic::differential {

// The guest register an ICC_* encoding names, for the log.
inline const char* GuestRegName(hw::arm::SysRegEncoding e) {
  using namespace hw::arm;  // NOLINT: the ICC_* encodings
  if (e == kIccIar0El1) return "iar0";
  if (e == kIccIar1El1) return "iar1";
  if (e == kIccEoir0El1) return "eoir0";
  if (e == kIccEoir1El1) return "eoir1";
  if (e == kIccDirEl1) return "dir";
  if (e == kIccPmrEl1) return "pmr";
  if (e == kIccRprEl1) return "rpr";
  if (e == kIccCtlrEl1) return "ctlr";
  if (e == kIccIgrpen0El1) return "igrpen0";
  if (e == kIccIgrpen1El1) return "igrpen1";
  return "other";
}

template <typename P, typename Accessor>
class HostVcpu {
 public:
  static constexpr uint32_t kNumSpis = 64;
  // Consecutive maintenance exits with no guest step between them that count as a live-lock.
  static constexpr int kMaxBackToBackExits = 64;

  // `allocations`, if given, counts heap allocations so far: nothing may allocate between a
  // VM's creation and its end (Flush, Fold, Inject, the trap handlers, the notifiers).
  HostVcpu(P& platform, Accessor& cpu_interface, hw::PhysicalGic* physical, ObservationLog& log,
           uint64_t (*allocations)() = nullptr)
      : platform_(platform),
        accessor_(cpu_interface),
        physical_(physical),
        log_(log),
        allocations_(allocations),
        vtr_(hw::arm::IchVtr::FromRaw(cpu_interface.Read(hw::arm::kIchVtrEl2))) {}

  hw::arm::IchVtr vtr() const { return vtr_; }
  int failures() const { return failures_; }
  bool in_guest() const { return in_guest_; }

  // --- hypercalls ---
  void Begin(uint32_t scenario, Profile profile) {
    const Scenario& s = kScenarios[scenario];
    log_.Printf("== %s profile %s lrs %u", {s.name, ProfileName(profile),
                                            static_cast<uint32_t>(s.num_list_registers)});
    backend_.emplace(accessor_);
    const hw::VgicCpuFeatures& f = backend_->features();
    if (s.num_list_registers > f.num_list_registers) {
      Fail("the scenario needs more list registers than ICH_VTR_EL2 reports");
    }
    auto vgic = Vgic<P>::Create(
        platform_, {.num_vcpus = 1,
                    .num_spis = kNumSpis,
                    .num_list_registers = s.num_list_registers,
                    .can_trap_dir = profile == Profile::kTdir && f.can_trap_dir,
                    .trap_all_cpu_interface_accesses = profile == Profile::kTrapAll,
                    .cpu_interface = CpuInterfaceShape::FromVtr(vtr_),
                    .physical_gic = physical_,
                    .kick = &HostVcpu::Kick,
                    .kick_context = this});
    if (!vgic.ok()) {
      Fail("Vgic::Create failed");
      return;
    }
    vgic_ = std::move(*vgic);
    state_ = hw::VgicCpuState{};
    scenario_ = scenario;
    allocations_at_start_ = allocations_ != nullptr ? allocations_() : 0;
    Enter();
  }

  void HostStep(uint32_t scenario, uint32_t index) {
    back_to_back_ = 0;
    Exit("hvc");
    const Step& step = kScenarios[scenario].steps[index];
    switch (step.op) {
      case Op::kConfigure: {
        const bool level = (step.c & 2) != 0;
        log_.Printf("host configure %u priority 0x%x group %u %s",
                    {step.a, step.b, step.c & 1, level ? "level" : "edge"});
        Check(vgic_->ConfigureIrq(0, step.a,
                                  {.enabled = true,
                                   .priority = static_cast<uint8_t>(step.b),
                                   .group = static_cast<uint8_t>(step.c & 1),
                                   .trigger = level ? Trigger::kLevel : Trigger::kEdge}));
        break;
      }
      case Op::kInject:
        log_.Printf("host inject %u %u", {step.a, step.b});
        Check(vgic_->Inject(0, step.a, step.b != 0));
        break;
      case Op::kNotifier:
        log_.Printf("host notifier %u", {step.a});
        Check(vgic_->SetDeactivationNotifier(step.a, &HostVcpu::Notify, this));
        break;
      case Op::kLogStats: {
        const VgicVcpuStats st = vgic_->stats(0);
        log_.Printf("host stats eoicount_deactivations %u dir_traps %u dir_deactivations %u "
                    "emulated_accesses %u",
                    {st.eoicount_deactivations, st.dir_traps, st.dir_deactivations,
                     st.emulated_cpu_interface_accesses});
        break;
      }
      default:
        Fail("a guest step reached the host");
    }
    Enter();
  }

  // Leaves the VM: every interrupt must be neither pending nor active, the AP list empty.
  void End() {
    Exit("hvc");
    for (uint32_t intid = 0; intid < kFirstSpi + kNumSpis; ++intid) {
      const auto s = vgic_->Snapshot(0, intid);
      if (s.ok() && (s->active || s->pending_latch || s->line_level)) {
        log_.Printf("FAIL host: INTID %u left %s", {intid, s->active ? "active" : "pending"});
        ++failures_;
      }
    }
    if (vgic_->ApListLength(0) != 0) Fail("the AP list is not empty");
    if (allocations_ != nullptr && allocations_() != allocations_at_start_) {
      log_.Printf("FAIL host: %u allocations during the run",
                  {allocations_() - allocations_at_start_});
      ++failures_;
    }
    vgic_.reset();
    backend_.reset();
    log_.Printf("== end %s", {kScenarios[scenario_].name});
  }

  // --- exits the hardware causes ---
  // A trapped ICV_* access of the guest. Returns what the guest reads.
  uint64_t SysRegTrap(hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) {
    back_to_back_ = 0;
    Save();
    if (is_write) {
      log_.Printf("exit trap %s write 0x%x misr 0x%x", {GuestRegName(reg), value, state_.misr});
    } else {
      log_.Printf("exit trap %s read misr 0x%x", {GuestRegName(reg), state_.misr});
    }
    uint64_t read = 0;
    if (reg == hw::arm::kIccDirEl1) {
      Check(vgic_->Fold(0, state_));
      Check(vgic_->HandleDirTrap(0, value));
    } else {
      auto r = vgic_->EmulateCpuInterfaceAccess(0, state_, reg, is_write, value);
      if (r.ok()) {
        read = *r;
      } else {
        Fail("EmulateCpuInterfaceAccess refused an access");
      }
      Check(vgic_->Fold(0, state_));
    }
    Enter();
    return read;
  }

  // A maintenance interrupt: save and fold (the caller then EOIs it and calls Enter). Returns
  // false once it has come back kMaxBackToBackExits times with no guest step between.
  bool MaintenanceExit() {
    if (++back_to_back_ > kMaxBackToBackExits) {
      if (back_to_back_ == kMaxBackToBackExits + 1) Fail("maintenance interrupt live-lock");
      return false;
    }
    Exit("maintenance");
    return true;
  }
  // A guest step ran: the next maintenance exit is not back-to-back.
  void GuestProgressed() { back_to_back_ = 0; }

  void Enter() {
    Check(vgic_->Flush(0, state_));
    backend_->Restore(state_);
    in_guest_ = true;
  }

 private:
  void Exit(const char* why) {
    Save();
    log_.Printf("exit %s misr 0x%x", {why, state_.misr});
    Check(vgic_->Fold(0, state_));
  }
  void Save() {
    backend_->Save(state_);
    in_guest_ = false;
  }

  void Check(const absl::Status& s) {
    if (s.ok()) return;
    Fail("a core call failed");
  }
  void Fail(const char* what) {
    log_.Printf("FAIL host: %s", {what});
    ++failures_;
  }

  static void Kick(void*, uint32_t) {}  // one vCPU, and every host step exits first
  static void Notify(void* context, uint32_t intid) {
    auto* self = static_cast<HostVcpu*>(context);
    self->log_.Printf("host notified %u", {intid});
    // The device was serviced: its line drops (the resample pattern).
    self->Check(self->vgic_->Inject(0, intid, false));
  }

  P& platform_;
  Accessor& accessor_;
  hw::PhysicalGic* physical_;
  ObservationLog& log_;
  uint64_t (*allocations_)();
  const hw::arm::IchVtr vtr_;
  std::optional<hw::arm::GicV3CpuInterface<Accessor>> backend_;
  std::unique_ptr<Vgic<P>> vgic_;
  hw::VgicCpuState state_;
  uint32_t scenario_ = 0;
  uint64_t allocations_at_start_ = 0;
  int back_to_back_ = 0;
  bool in_guest_ = false;
  int failures_ = 0;
};

}  // namespace irqvirt::vgic::differential

#endif  // IRQVIRT_TESTS_VGIC_DIFFERENTIAL_HOST_VCPU_H_
