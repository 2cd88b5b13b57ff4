// SPDX-License-Identifier: MIT
// Trapped ICV_* accesses a hypervisor did not ask for: a CPU without ICH_VTR_EL2.TDS traps DIR
// only with TC, which traps PMR, RPR and CTLR too, and errata workarounds trap whole groups.
// The core's emulation must give the guest exactly what the untrapped hardware would have: the
// differential test runs every access on one fake CPU interface untrapped and on a twin with
// every trap set, where the access exits, is emulated on the saved state and restored, and
// compares what the guest read and every register afterwards. The stories then run it end to
// end through the vGIC core on a no-TDIR CPU.
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "hw/arm/gicv3_cpu_interface.h"
#include "hw/arm/icc_sysregs.h"
#include "hw/fake/fake_gicv3_cpu_interface.h"
#include "hw/fake/fake_physical_gic.h"
#include "irqvirt/vgic/cpu_interface_emulation.h"
#include "tests/common/seed.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using hw::arm::IchHcr;
using hw::arm::IchVmcr;
using hw::arm::SysRegEncoding;
using hw::fake::FakeGicV3CpuInterface;

constexpr int kLrs = 4;

struct Access {
  SysRegEncoding reg;
  bool is_write;
};

const std::vector<Access>& EveryEmulatedAccess() {
  using namespace hw::arm;  // NOLINT
  static const std::vector<Access> all = {
      {kIccIar0El1, false},    {kIccIar1El1, false},   {kIccEoir0El1, true},
      {kIccEoir1El1, true},    {kIccHppir0El1, false}, {kIccHppir1El1, false},
      {kIccBpr0El1, false},    {kIccBpr0El1, true},    {kIccBpr1El1, false},
      {kIccBpr1El1, true},     {kIccPmrEl1, false},    {kIccPmrEl1, true},
      {kIccRprEl1, false},     {kIccCtlrEl1, false},   {kIccCtlrEl1, true},
      {kIccIgrpen0El1, false}, {kIccIgrpen0El1, true}, {kIccIgrpen1El1, false},
      {kIccIgrpen1El1, true},  {IccAp0rEl1(0), false}, {IccAp0rEl1(0), true},
      {IccAp1rEl1(0), false},  {IccAp1rEl1(0), true},
  };
  return all;
}

// One fake CPU interface with its backend and physical GIC, loaded with a given state.
struct Cpu {
  explicit Cpu(const hw::VgicCpuState& s)
      : fake({.num_list_registers = kLrs, .tdir_supported = false}, &physical), backend(fake) {
    for (uint32_t p = 0; p < hw::fake::FakePhysicalGic::kNumIntids; ++p) physical.Activate(p);
    state = s;
    backend.Restore(state);
  }
  hw::fake::FakePhysicalGic physical;
  FakeGicV3CpuInterface fake;
  hw::arm::GicV3CpuInterface<FakeGicV3CpuInterface> backend;
  hw::VgicCpuState state;
};

hw::VgicCpuState RandomState(std::mt19937_64& rng) {
  auto bits = [&rng](int n) { return rng() & ((uint64_t{1} << n) - 1); };
  hw::VgicCpuState s;
  s.used_lrs = kLrs;
  for (int n = 0; n < kLrs; ++n) {
    // Distinct vINTIDs, SGIs among them; any state, group and priority; some HW-mapped.
    const uint64_t intid = (rng() % 4 == 0) ? static_cast<uint64_t>(n) : 32 + 8 * n + bits(3);
    // Priorities near 0x80 half the time, so that they meet the mask (0x80..0xff) closely.
    const uint64_t priority = bits(1) ? 0x78 + bits(4) : bits(8);
    uint64_t lr = intid | (priority << 48) | (bits(1) << 60) | (bits(2) << 62);
    if (bits(2) == 0) {
      lr |= uint64_t{1} << 61 | ((100 + intid) << 32);  // HW, pINTID
    } else if (bits(1)) {
      lr |= uint64_t{1} << 41;  // EOI
    }
    s.lr[n] = lr;
  }
  IchVmcr vmcr;
  vmcr.set_veng0(bits(1))
      .set_veng1(bits(1))
      .set_vcbpr(bits(1))
      .set_veoim(bits(1))
      .set_vbpr0(bits(3))
      .set_vbpr1(bits(3))
      .set_vpmr(bits(1) ? 0x80 + bits(4) : bits(8) | 0x80);  // often with unimplemented bits
  s.vmcr = vmcr.raw();
  s.ap0r[0] = rng() % 3 == 0 ? 0 : static_cast<uint32_t>(uint32_t{1} << bits(5));
  s.ap1r[0] = rng() % 3 == 0 ? 0 : static_cast<uint32_t>(uint32_t{1} << bits(5));
  IchHcr hcr;
  hcr.set_en(1).set_lrenpie(1).set_vsgieoicount(bits(1)).set_eoicount(bits(3));
  s.hcr = hcr.raw();
  return s;
}

uint64_t RandomValue(std::mt19937_64& rng, const hw::VgicCpuState& s) {
  switch (rng() % 5) {
    case 0:
      return hw::arm::IchLrVintid(s.lr[rng() % kLrs]);  // EOI of something in an LR
    case 1:
      return rng() & 0xff;
    case 2:
      return rng() % 16;  // an SGI (vSGIEOICount)
    default:
      return rng();
  }
}

TEST(CpuInterfaceTrap, EveryEmulatedAccessMatchesTheUntrappedHardware) {
  const uint64_t seed = irqvirt::testing::SeedFromEnv("IRQVIRT_TRAP_SEED", 20261205);
  std::mt19937_64 rng(seed);
  const auto shape = CpuInterfaceShape::FromVtr(hw::arm::IchVtr::FromRaw(
      FakeGicV3CpuInterface({.num_list_registers = kLrs}, nullptr).Read(hw::arm::kIchVtrEl2)));
  int exercised = 0;
  for (int round = 0; round < 4000; ++round) {
    const hw::VgicCpuState initial = RandomState(rng);
    const Access a = EveryEmulatedAccess()[rng() % EveryEmulatedAccess().size()];
    const uint64_t value = a.is_write ? RandomValue(rng, initial) : 0;

    // The hardware, untrapped.
    Cpu hw_cpu(initial);
    const auto direct =
        a.is_write ? hw_cpu.fake.GuestWrite(a.reg, value) : hw_cpu.fake.GuestRead(a.reg);
    ASSERT_FALSE(direct.trapped);
    hw_cpu.backend.Save(hw_cpu.state);

    // The twin with every trap set: exit, emulate on the saved state, compare.
    hw::VgicCpuState trapping = initial;
    trapping.hcr = IchHcr::FromRaw(initial.hcr).set_tc(1).set_tall0(1).set_tall1(1).raw();
    Cpu emulated(trapping);
    const auto trapped =
        a.is_write ? emulated.fake.GuestWrite(a.reg, value) : emulated.fake.GuestRead(a.reg);
    ASSERT_TRUE(trapped.trapped);
    emulated.backend.Save(emulated.state);
    auto read = CpuInterfaceEmulation(emulated.state, shape, &emulated.physical)
                    .Access(a.reg, a.is_write, value);
    ASSERT_TRUE(read.ok()) << read.status();

    const std::string where = "seed " + std::to_string(seed) + " round " + std::to_string(round) +
                              " reg key " + std::to_string(a.reg.key()) +
                              (a.is_write ? " write " : " read ") + std::to_string(value);
    if (!a.is_write) {
      EXPECT_EQ(*read, direct.value) << where;
    }
    for (int n = 0; n < kLrs; ++n)
      EXPECT_EQ(emulated.state.lr[n], hw_cpu.state.lr[n]) << where << " LR " << n;
    EXPECT_EQ(emulated.state.vmcr, hw_cpu.state.vmcr) << where;
    EXPECT_EQ(emulated.state.ap0r[0], hw_cpu.state.ap0r[0]) << where;
    EXPECT_EQ(emulated.state.ap1r[0], hw_cpu.state.ap1r[0]) << where;
    EXPECT_EQ(IchHcr::FromRaw(emulated.state.hcr).eoicount(),
              IchHcr::FromRaw(hw_cpu.state.hcr).eoicount())
        << where;
    for (int n = 0; n < kLrs; ++n) {
      const uint32_t pintid = 100 + hw::arm::IchLrVintid(initial.lr[n]);
      EXPECT_EQ(emulated.physical.deactivations(pintid), hw_cpu.physical.deactivations(pintid))
          << where;
    }
    if (HasFailure()) return;  // one reproducible report, not thousands
    exercised += *read != 0 || a.is_write;
  }
  EXPECT_GT(exercised, 1000) << "the random states exercise real results";
}

TEST(CpuInterfaceTrap, UndefinedAccessesAreErrorsAndChangeNothing) {
  hw::VgicCpuState s;
  s.vmcr = IchVmcr().set_vpmr(0x80).set_veng1(1).raw();
  const hw::VgicCpuState before = s;
  CpuInterfaceEmulation e(s, {}, nullptr);
  using namespace hw::arm;  // NOLINT
  EXPECT_EQ(e.Access(kIccIar1El1, true, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Access(kIccRprEl1, true, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Access(kIccEoir1El1, false, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.Access(IccAp1rEl1(1), false, 0).status().code(), absl::StatusCode::kInvalidArgument)
      << "5 preemption bits: one APR per group";
  EXPECT_EQ(e.Access(kIccDirEl1, true, 32).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.Access(kIccSgi1rEl1, true, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.Access(kIchHcrEl2, false, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.vmcr, before.vmcr);
  EXPECT_EQ(s.ap1r, before.ap1r);
}

// Acceptance: a CPU without TDIR, more active interrupts than LRs with EOImode 1. The core traps
// DIR with TC while it needs to, so the guest's PMR, RPR and CTLR accesses trap too and are
// emulated; every interrupt completes; with nothing outside the LRs nothing traps.
TEST(CpuInterfaceTrap, NoTdirCpuOverflowWithEoiMode1ThroughTcTraps) {
  VgicHarness h({.num_vcpus = 1,
                 .num_list_registers = 2,
                 .eoi_mode_split = true,
                 .backend = Backend::kGicV3NoTdir});
  using namespace hw::arm;  // NOLINT
  h.Enter(0);
  EXPECT_EQ(h.GuestSysReg(0, kIccPmrEl1, true, 0xf0), 0u);
  EXPECT_EQ(h.vcpu(0).sysreg_trap_exits, 0u) << "nothing in flight: PMR does not trap";

  // Six SPIs of rising priority, each preempting the last: 6 active, 2 LRs.
  std::vector<uint32_t> acked;
  for (uint32_t i = 0; i < 6; ++i) {
    h.Configure(0, 32 + i, {.priority = static_cast<uint8_t>(0xc0 - 0x10 * i)});
    h.Inject(0, 32 + i, true);
    acked.push_back(h.guest(0).Acknowledge(1));
  }
  EXPECT_EQ(acked, (std::vector<uint32_t>{32, 33, 34, 35, 36, 37}));
  ASSERT_TRUE(h.DirTraps(0)) << "active interrupts outside the LRs: DIR must trap";
  EXPECT_EQ(IchHcr::FromRaw(h.vcpu(0).state.hcr).tdir(), 0u) << "TDIR is RES0 on this CPU";

  // Trapped with TC and emulated: the running priority, the mask, EOImode.
  const uint64_t traps_before = h.vcpu(0).sysreg_trap_exits;
  EXPECT_EQ(h.GuestSysReg(0, kIccRprEl1, false), 0x70u) << "SPI 37 (0x70) runs";
  EXPECT_EQ(h.GuestSysReg(0, kIccPmrEl1, false), 0xf0u);
  EXPECT_EQ(IccCtlr::FromRaw(h.GuestSysReg(0, kIccCtlrEl1, false)).eoimode(), 1u);
  EXPECT_EQ(h.GuestSysReg(0, kIccPmrEl1, true, 0x60), 0u);
  EXPECT_EQ(h.GuestSysReg(0, kIccPmrEl1, false), 0x60u) << "the write reached the saved VMCR";
  EXPECT_EQ(h.vcpu(0).sysreg_trap_exits - traps_before, 5u);
  EXPECT_EQ(h.vgic().stats(0).emulated_cpu_interface_accesses, 5u);

  // A new interrupt above the running priority but below the new mask is not taken.
  h.Configure(0, 40, {.priority = 0x68});
  h.Inject(0, 40, true);
  EXPECT_EQ(h.guest(0).Acknowledge(1), hw::fake::kSpuriousIntid) << "PMR 0x60 masks 0x68";

  // EOIs newest first (priority drops), then DIRs in an arbitrary order: each DIR traps (TC).
  for (int i = 0; i < 6; ++i) h.guest(0).EoiNewest();
  const uint64_t dirs_before = h.vcpu(0).dir_trap_exits;
  for (int i : {3, 0, 2, 1, 1, 0}) h.guest(0).DeactivateWaiting(i);
  EXPECT_EQ(h.vcpu(0).dir_trap_exits - dirs_before, 6u);
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(h.vgic().Snapshot(0, 32 + i)->active) << "SPI " << 32 + i;
  }
  EXPECT_EQ(h.GuestSysReg(0, kIccPmrEl1, true, 0xf8), 0u);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 40u) << "unmasked, the waiting SPI is taken";
  h.guest(0).EoiNewest();
  h.guest(0).DeactivateWaiting(0);
  h.Exit(0);
  EXPECT_FALSE(h.vgic().Snapshot(0, 40)->active);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u);
  EXPECT_EQ(h.cpu(0).bad_accesses(), 0u);
}

// A trapped BPR1 write decides preemption. At the minimum binary point a priority 0x40
// interrupt preempts a running 0x48 one; with BPR1 = 5 both have group priority 0x40, so it must
// wait (and HPPIR still shows it).
TEST(CpuInterfaceTrap, TrappedBinaryPointDecidesPreemption) {
  VgicHarness h({.num_vcpus = 1, .num_list_registers = 4, .backend = Backend::kGicV3TrapAll});
  using namespace hw::arm;  // NOLINT
  h.Enter(0);
  h.Configure(0, 32, {.priority = 0x48});
  h.Configure(0, 33, {.priority = 0x40});
  EXPECT_EQ(h.GuestSysReg(0, kIccBpr1El1, false), 3u) << "below the minimum reads as the minimum";
  h.Inject(0, 32, true);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 32u);
  h.Inject(0, 33, true);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 33u) << "0x40 preempts 0x48 at the minimum binary point";
  h.guest(0).EoiNewest();
  h.guest(0).EoiNewest();
  EXPECT_EQ(h.GuestSysReg(0, kIccRprEl1, false), 0xffu) << "both completed";

  EXPECT_EQ(h.GuestSysReg(0, kIccBpr1El1, true, 5), 0u);
  EXPECT_EQ(h.GuestSysReg(0, kIccBpr1El1, false), 5u);
  h.Inject(0, 32, true);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 32u);
  EXPECT_EQ(h.GuestSysReg(0, kIccRprEl1, false), 0x40u) << "group priority of 0x48 at BPR1 5";
  h.Inject(0, 33, true);
  EXPECT_EQ(h.guest(0).Acknowledge(1), hw::fake::kSpuriousIntid) << "same group priority 0x40";
  EXPECT_EQ(h.GuestSysReg(0, kIccHppir1El1, false), 33u) << "still the highest pending";
  h.guest(0).EoiNewest();
  EXPECT_EQ(h.guest(0).Acknowledge(1), 33u) << "taken once 32's priority is dropped";
  h.guest(0).EoiNewest();
  EXPECT_GE(h.vgic().stats(0).emulated_cpu_interface_accesses, 10u);
  EXPECT_EQ(h.cpu(0).bad_accesses(), 0u);
}

TEST(CpuInterfaceTrap, GicV2GuestsAndUnknownVcpusAreRefused) {
  VgicHarness v2({.num_vcpus = 1, .backend = Backend::kGicV2});
  hw::VgicCpuState s;
  EXPECT_EQ(
      v2.vgic().EmulateCpuInterfaceAccess(0, s, hw::arm::kIccPmrEl1, false, 0).status().code(),
      absl::StatusCode::kFailedPrecondition);
  VgicHarness v3({.num_vcpus = 1});
  EXPECT_EQ(
      v3.vgic().EmulateCpuInterfaceAccess(7, s, hw::arm::kIccPmrEl1, false, 0).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
