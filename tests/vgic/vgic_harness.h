// SPDX-License-Identifier: MIT
// The vGIC core on fake GIC hardware, wired as a hypervisor wires it: per vCPU a fake virtual
// CPU interface (GICv3, or GICv2 with a GICv2 guest), the real backend for it on top, a saved
// hw::VgicCpuState, and a guest model. Enter/Exit are the run loop's two halves; a trapped DIR
// exits, is handled and re-enters; a maintenance interrupt or a kick exits after the guest
// operation that raised it. Single-threaded (LogicalPlatform); embedders' tests can use it as a
// starting point.
#ifndef IRQVIRT_TESTS_VGIC_VGIC_HARNESS_H_
#define IRQVIRT_TESTS_VGIC_VGIC_HARNESS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hw/arm/gicv2_cpu_interface.h"
#include "hw/arm/gicv3_cpu_interface.h"
#include "hw/arm/icc_sysregs.h"
#include "hw/fake/fake_gicv2_cpu_interface.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/fake/fake_physical_gic.h"
#include "hw/fake/gic_guest.h"
#include "hw/fake/logical_platform.h"
#include "irqvirt/vgic/vgic.h"

namespace irqvirt::vgic::testing {

using Platform = hw::fake::LogicalPlatform;
using TestVgic = Vgic<Platform>;

// Which host GIC the harness builds: the GICv3 backend over system registers, or the GICv2
// backend over the GICH window (the guest is then a GICv2 guest: VgicOptions::guest_model).
// Two more GICv3 CPUs: one without ICH_VTR_EL2.TDS (DIR traps only with TC, which traps PMR,
// RPR and CTLR too), and one whose every ICV_* access traps (trap_all_cpu_interface_accesses);
// the harness emulates what traps through the core, as a hypervisor would.
enum class Backend { kGicV3, kGicV2, kGicV3NoTdir, kGicV3TrapAll };

inline std::string BackendName(Backend b) {
  switch (b) {
    case Backend::kGicV3:
      return "GicV3";
    case Backend::kGicV2:
      return "GicV2";
    case Backend::kGicV3NoTdir:
      return "GicV3NoTdir";
    case Backend::kGicV3TrapAll:
      return "GicV3TrapAll";
  }
  return "?";
}

// The backend of a harness whose options do not name one: GICv3, unless a suite parameterized
// over backends set it for the running test (ScopedDefaultBackend), so that a test written once
// runs on both.
inline Backend& DefaultBackend() {
  static Backend backend = Backend::kGicV3;
  return backend;
}

class ScopedDefaultBackend {
 public:
  explicit ScopedDefaultBackend(Backend b) : previous_(DefaultBackend()) { DefaultBackend() = b; }
  ~ScopedDefaultBackend() { DefaultBackend() = previous_; }
  ScopedDefaultBackend(const ScopedDefaultBackend&) = delete;
  ScopedDefaultBackend& operator=(const ScopedDefaultBackend&) = delete;

 private:
  Backend previous_;
};

struct HarnessOptions {
  uint32_t num_vcpus = 2;
  uint32_t num_spis = 64;
  int num_list_registers = 4;
  bool eoi_mode_split = false;  // the guests' EOImode
  bool group0_enabled = true;
  // A maintenance interrupt that stays asserted over this many consecutive re-entries is a
  // live-lock: the harness stops re-entering and counts it.
  int max_back_to_back_exits = 64;
  Backend backend = DefaultBackend();
};

class VgicHarness {
 public:
  class Vcpu : public hw::fake::GicGuest::Host {
   public:
    Vcpu(VgicHarness& h, uint32_t id, int num_lrs, hw::fake::FakePhysicalGic* phys, Backend b)
        : harness(h),
          id(id),
          v3(b != Backend::kGicV2 ? std::make_unique<hw::fake::FakeGicV3CpuInterface>(
                                        hw::fake::FakeGicV3CpuInterface::Config{
                                            .num_list_registers = num_lrs,
                                            .tdir_supported = b != Backend::kGicV3NoTdir},
                                        phys)
                                  : nullptr),
          v2(b == Backend::kGicV2
                 ? std::make_unique<hw::fake::FakeGicV2CpuInterface>(
                       hw::fake::FakeGicV2CpuInterface::Config{.num_list_registers = num_lrs}, phys)
                 : nullptr),
          cpu(v3 ? *v3 : v2->list_registers()),
          guest(v3 ? static_cast<hw::fake::GuestCpuInterface&>(*v3)
                   : static_cast<hw::fake::GuestCpuInterface&>(*v2),
                *this) {
      if (v3) {
        v3_backend.emplace(*v3);
      } else {
        v2_backend.emplace(*v2);
      }
    }

    void Restore() {
      if (v3_backend) {
        v3_backend->Restore(state);
      } else {
        v2_backend->Restore(state);
      }
    }
    void Save() {
      if (v3_backend) {
        v3_backend->Save(state);
      } else {
        v2_backend->Save(state);
      }
    }

    void DirTrapped(uint32_t value) override {
      ++dir_trap_exits;
      harness.Exit(id);
      EXPECT_TRUE(harness.vgic().HandleDirTrap(id, value).ok());
      harness.Enter(id);
    }
    uint64_t SysRegTrapped(hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) override {
      return harness.TrappedAccess(id, reg, is_write, value);
    }
    void AfterGuestOperation() override { harness.ServiceExits(id); }

    VgicHarness& harness;
    uint32_t id;
    std::unique_ptr<hw::fake::FakeGicV3CpuInterface> v3;  // a GICv3 host, or
    std::unique_ptr<hw::fake::FakeGicV2CpuInterface> v2;  // a GICv2 host
    // The list registers in ICH layout either way (the GICv2 fake keeps them so), for checks
    // that hold on both.
    hw::fake::FakeGicV3CpuInterface& cpu;
    std::optional<hw::arm::GicV3CpuInterface<hw::fake::FakeGicV3CpuInterface>> v3_backend;
    std::optional<hw::arm::GicV2CpuInterface> v2_backend;
    hw::fake::GicGuest guest;
    hw::VgicCpuState state;
    bool in_guest = false;
    bool kicked = false;
    // Models a maintenance interrupt or kick that arrives late: while set, the guest keeps
    // running whatever is asserted, until the test calls Exit or clears it.
    bool defer_exits = false;
    uint64_t exits = 0;
    uint64_t maintenance_exits = 0;
    uint64_t kick_exits = 0;
    uint64_t dir_trap_exits = 0;
    uint64_t sysreg_trap_exits = 0;
    uint64_t livelocks = 0;
  };

  explicit VgicHarness(HarnessOptions o = {}) : options_(o), platform_(4, o.num_vcpus) {
    auto v = TestVgic::Create(
        platform_,
        {.num_vcpus = o.num_vcpus,
         .num_spis = o.num_spis,
         .num_list_registers = o.num_list_registers,
         .can_trap_dir = o.backend != Backend::kGicV3NoTdir,
         .trap_all_cpu_interface_accesses = o.backend == Backend::kGicV3TrapAll,
         .guest_model = o.backend == Backend::kGicV2 ? GuestModel::kGicV2 : GuestModel::kGicV3,
         .physical_gic = &physical_,
         .kick = &VgicHarness::KickThunk,
         .kick_context = this});
    EXPECT_TRUE(v.ok()) << v.status();
    vgic_ = std::move(*v);
    for (uint32_t i = 0; i < o.num_vcpus; ++i) {
      vcpus_.push_back(
          std::make_unique<Vcpu>(*this, i, o.num_list_registers, &physical_, o.backend));
      hw::arm::IchVmcr vmcr;
      vmcr.set_veng1(1).set_veng0(o.group0_enabled ? 1 : 0).set_vpmr(0xf8).set_veoim(
          o.eoi_mode_split ? 1 : 0);
      vcpus_[i]->state.vmcr = vmcr.raw();
    }
  }

  TestVgic& vgic() { return *vgic_; }
  Platform& platform() { return platform_; }
  hw::fake::FakePhysicalGic& physical() { return physical_; }
  Vcpu& vcpu(uint32_t v) { return *vcpus_[v]; }
  hw::fake::GicGuest& guest(uint32_t v) { return vcpus_[v]->guest; }
  hw::fake::FakeGicV3CpuInterface& cpu(uint32_t v) { return vcpus_[v]->cpu; }
  // The GICv2 host's interface (null on GICv3).
  hw::fake::FakeGicV2CpuInterface* gicv2(uint32_t v) { return vcpus_[v]->v2.get(); }
  Backend backend() const { return options_.backend; }
  uint32_t num_vcpus() const { return options_.num_vcpus; }

  void Enter(uint32_t v) {
    Vcpu& c = *vcpus_[v];
    ASSERT_FALSE(c.in_guest) << "vCPU " << v << " entered twice";
    c.kicked = false;
    ASSERT_TRUE(vgic_->Flush(v, c.state).ok());
    c.Restore();
    c.in_guest = true;
  }

  // An exit's two halves: the backend saves the CPU interface, then the core folds it. A trapped
  // ICV_* access is emulated between them (TrappedAccess).
  void Exit(uint32_t v) {
    SaveOnExit(v);
    FoldOnExit(v);
  }
  void SaveOnExit(uint32_t v) {
    Vcpu& c = *vcpus_[v];
    ASSERT_TRUE(c.in_guest) << "vCPU " << v << " exited while not in the guest";
    c.Save();
    c.in_guest = false;
    ++c.exits;
  }
  void FoldOnExit(uint32_t v) { ASSERT_TRUE(vgic_->Fold(v, vcpus_[v]->state).ok()); }

  // Performs `access` the way a trapped MMIO or system-register exit of vCPU `v` is handled: the
  // vCPU exits (if it is in the guest), the hypervisor emulates, the vCPU re-enters, and the
  // kicks the access raised land.
  template <typename Fn>
  void WithExit(uint32_t v, Fn&& access) {
    const bool was_in_guest = vcpus_[v]->in_guest;
    if (was_in_guest) Exit(v);
    access();
    if (was_in_guest) Enter(v);
    DeliverKicks();
  }

  // Whether vCPU `v`'s last flush made its guest's DIR trap: TDIR, or TC where TDIR is RES0.
  bool DirTraps(uint32_t v) const {
    const auto hcr = hw::arm::IchHcr::FromRaw(vcpus_[v]->state.hcr);
    const bool tc_traps_dir =
        options_.backend == Backend::kGicV3NoTdir || options_.backend == Backend::kGicV3TrapAll;
    return tc_traps_dir ? hcr.tc() != 0 : hcr.tdir() != 0;
  }

  // The guest's ICV_* access `reg` on vCPU `v`, as a GICv3 guest performs it: on the CPU if it
  // does not trap, otherwise through an exit (Save, the core's emulation, Fold; DIR after Fold)
  // and a re-entry. Returns what the guest reads.
  uint64_t GuestSysReg(uint32_t v, hw::arm::SysRegEncoding reg, bool is_write, uint64_t value = 0) {
    hw::fake::FakeGicV3CpuInterface* cpu = vcpus_[v]->v3.get();
    EXPECT_NE(cpu, nullptr) << "ICV_* registers exist only on a GICv3 host";
    if (cpu == nullptr) return 0;
    const auto access = is_write ? cpu->GuestWrite(reg, value) : cpu->GuestRead(reg);
    if (!access.trapped) return access.value;
    if (reg == hw::arm::kIccDirEl1) {
      vcpus_[v]->DirTrapped(static_cast<uint32_t>(value));
      return 0;
    }
    return TrappedAccess(v, reg, is_write, value);
  }

  uint64_t TrappedAccess(uint32_t v, hw::arm::SysRegEncoding reg, bool is_write, uint64_t value) {
    Vcpu& c = *vcpus_[v];
    ++c.sysreg_trap_exits;
    SaveOnExit(v);
    auto read = vgic_->EmulateCpuInterfaceAccess(v, c.state, reg, is_write, value);
    EXPECT_TRUE(read.ok()) << read.status();
    FoldOnExit(v);
    Enter(v);
    return read.ok() ? *read : 0;
  }

  // Exit and re-enter while the maintenance interrupt is asserted or a kick is pending.
  void ServiceExits(uint32_t v) {
    Vcpu& c = *vcpus_[v];
    for (int round = 0; c.in_guest && !c.defer_exits; ++round) {
      const bool mi = c.cpu.maintenance_interrupt();
      if (!mi && !c.kicked) return;
      if (round == options_.max_back_to_back_exits) {
        ++c.livelocks;
        return;
      }
      if (mi) ++c.maintenance_exits;
      if (!mi) ++c.kick_exits;
      Exit(v);
      Enter(v);
    }
  }

  // Kicks land at once: every kicked vCPU in the guest exits and re-enters.
  void DeliverKicks() {
    for (uint32_t v = 0; v < options_.num_vcpus; ++v) ServiceExits(v);
  }

  void Inject(uint32_t v, uint32_t intid, bool level) {
    ASSERT_TRUE(vgic_->Inject(v, intid, level).ok());
    DeliverKicks();
  }

  void Configure(uint32_t v, uint32_t intid, IrqConfig c) {
    ASSERT_TRUE(vgic_->ConfigureIrq(v, intid, c).ok());
  }

  // Everything the guest took, in order (acknowledged INTIDs, spurious ones excluded).
  std::vector<uint32_t> AcknowledgeAll(uint32_t v, int group = 1) {
    std::vector<uint32_t> taken;
    for (;;) {
      const uint32_t intid = guest(v).Acknowledge(group);
      if (intid == hw::fake::kSpuriousIntid) return taken;
      taken.push_back(intid);
    }
  }

  uint64_t total_exits() const {
    uint64_t n = 0;
    for (const auto& c : vcpus_) n += c->exits;
    return n;
  }
  uint64_t total_livelocks() const {
    uint64_t n = 0;
    for (const auto& c : vcpus_) n += c->livelocks;
    return n;
  }

 private:
  static void KickThunk(void* context, uint32_t vcpu) {
    auto* h = static_cast<VgicHarness*>(context);
    h->vcpus_[vcpu]->kicked = true;
  }

  HarnessOptions options_;
  Platform platform_;
  hw::fake::FakePhysicalGic physical_;
  std::unique_ptr<TestVgic> vgic_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
};

}  // namespace irqvirt::vgic::testing

#endif  // IRQVIRT_TESTS_VGIC_VGIC_HARNESS_H_
