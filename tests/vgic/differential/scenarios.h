// SPDX-License-Identifier: MIT
// The differential scenarios: stories a GICv3 guest lives through with one vCPU, written once as
// data and run twice, on the fake virtual CPU interface (hosted) and on QEMU's model inside the
// bare-metal image (tools/qemu_gicv3). They are the scenario tests' stories
// (tests/vgic/scenario_test.cc) that one vCPU can tell: more interrupts than list registers with
// EOImode 0 and 1 (DIRs in another order than the acknowledges), a group disabled and enabled
// while the LRs overflow, level interrupts with deactivation notifiers (in an LR and outside
// them), and priority-mask changes.
//
// A step is the guest's own operation on its CPU interface (ICC_* registers, reaching ICV_*), or
// the hypervisor's, which the guest asks for with a hypercall: the vCPU exits, the host acts (a
// device's interrupt fires, a notifier is set), and it re-enters, as a kick would make it. Every
// acknowledge names the INTID the architecture says comes next (highest priority pending first,
// IHI 0069 §4.8), worked out by hand here, never by the code under test.
#ifndef IRQVIRT_TESTS_VGIC_DIFFERENTIAL_SCENARIOS_H_
#define IRQVIRT_TESTS_VGIC_DIFFERENTIAL_SCENARIOS_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace irqvirt::vgic::differential {

inline constexpr uint32_t kSpurious = 1023;  // IHI 0069 §2.2.1

enum class Op : uint8_t {
  // The guest's (ICC_*_EL1).
  kSetEoiMode,   // a: EOImode (ICC_CTLR_EL1)
  kSetPmr,       // a: the value written; b: what reads back
  kGroupEnable,  // a: group; b: 1 to enable, 0 to disable (ICC_IGRPEN<a>_EL1)
  kAck,          // a: group; b: the INTID expected (kSpurious: none)
  kEoi,          // EOIs the newest acknowledged interrupt not yet EOIed
  kDir,          // a: position in the list of priority-dropped interrupts, oldest first
  kReadRpr,      // b: the running priority expected
  // The hypervisor's, through a hypercall.
  kConfigure,    // a: INTID; b: priority; c: group | (level-triggered << 1)
  kInject,       // a: INTID; b: the line (edge: 1 is an edge)
  kNotifier,     // a: INTID (an SPI): its deactivation notifier logs and lowers the line
  kLogStats,     // the core's counters into the log
};

inline constexpr bool IsHostStep(Op op) { return op >= Op::kConfigure; }

struct Step {
  Op op;
  uint32_t a = 0;
  uint32_t b = 0;
  uint32_t c = 0;
};

// How the hypervisor traps the guest's CPU interface during a run (each scenario runs in all).
enum class Profile : uint8_t {
  kTdir,     // ICH_HCR_EL2.TDIR traps DIR alone (ICH_VTR_EL2.TDS)
  kTc,       // as on a CPU without TDS: TC traps DIR with PMR, RPR and CTLR, which the core emulates
  kTrapAll,  // TC, TALL0 and TALL1: every ICV_* access is emulated by the core
};
inline constexpr Profile kProfiles[] = {Profile::kTdir, Profile::kTc, Profile::kTrapAll};
inline constexpr const char* ProfileName(Profile p) {
  return p == Profile::kTdir ? "tdir" : (p == Profile::kTc ? "tc" : "trap-all");
}

template <size_t N>
struct StepList {
  std::array<Step, N> steps{};
  size_t size = 0;

  constexpr void Add(Step s) { steps[size++] = s; }
  // The guest's usual start: EOImode, a priority mask above every priority used, Group 1 on.
  constexpr void Setup(uint32_t eoi_mode, bool group0) {
    Add({Op::kSetEoiMode, eoi_mode});
    Add({Op::kSetPmr, 0xf0, 0xf0});
    // Group 1 first: QEMU 7.2's ICH_MISR_EL2.VGrp0D tests VENG1 where IHI 0069 §12.4.8 says
    // VENG0, so Group 0 enabled with Group 1 disabled is an endless maintenance interrupt there
    // (not on hardware, not on the fake). No scenario keeps that combination.
    Add({Op::kGroupEnable, 1, 1});
    Add({Op::kGroupEnable, 0, group0 ? 1u : 0u});
  }
  constexpr void EdgeIrq(uint32_t intid, uint32_t priority, uint32_t group = 1) {
    Add({Op::kConfigure, intid, priority, group});
  }
  constexpr void LevelIrq(uint32_t intid, uint32_t priority) {
    Add({Op::kConfigure, intid, priority, 1 | 2});
  }
  constexpr void Inject(uint32_t intid, uint32_t level = 1) { Add({Op::kInject, intid, level}); }
  constexpr void Ack(uint32_t expected, uint32_t group = 1) {
    Add({Op::kAck, group, expected});
  }
  constexpr void Eoi(int times = 1) {
    for (int i = 0; i < times; ++i) Add({Op::kEoi});
  }
};

struct Scenario {
  const char* name;
  int num_list_registers;  // the core uses this many of the CPU's LRs
  const Step* steps;
  size_t num_steps;
};

namespace scenario_steps {

// Nested preemption (KVM's selftest, scenario_test's NestN): SPI 32+i with priority 0xe0 - 8i is
// injected and acknowledged before the next, so `n` are active at once with 4 LRs.
template <size_t N>
constexpr void Nest(StepList<N>& s, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    s.EdgeIrq(32 + i, 0xe0 - 8 * i);
    s.Inject(32 + i);
    s.Ack(32 + i);  // higher than everything active: it preempts
  }
}

// 24 active with 4 LRs, EOImode 0: 20 EOIs find no LR and are known through EOIcount.
inline constexpr auto kNestedEoiMode0 = [] {
  StepList<128> s;
  s.Setup(0, true);
  Nest(s, 24);
  s.Eoi(24);  // newest first, as priority drop requires
  s.Add({Op::kLogStats});
  return s;
}();

// 20 active with 4 LRs, EOImode 1: 20 priority drops, then 20 DIRs in another order (odd counts
// take the newest, even counts the oldest), each trapped.
inline constexpr auto kNestedEoiMode1 = [] {
  StepList<128> s;
  s.Setup(1, true);
  Nest(s, 20);
  s.Eoi(20);
  s.Add({Op::kReadRpr, 0, 0xff});  // every priority dropped
  for (uint32_t waiting = 20; waiting > 0; --waiting) {
    s.Add({Op::kDir, waiting % 2 == 1 ? waiting - 1 : 0});
  }
  s.Add({Op::kLogStats});
  return s;
}();

// KVM's guest_code_group_en: 16 SGIs pending, priority (i+1)*8, SGI 0 in the disabled Group 0;
// Group 1's are delivered in priority order, SGI 0 only once Group 0 is enabled. Then eight SPIs
// overflow the LRs while the guest disables Group 1 and enables it again.
inline constexpr auto kGroupEnables = [] {
  StepList<128> s;
  s.Setup(0, false);
  for (uint32_t i = 0; i < 16; ++i) s.EdgeIrq(i, (i + 1) * 8, i == 0 ? 0 : 1);
  for (uint32_t i = 0; i < 16; ++i) s.Inject(i);
  for (uint32_t i = 1; i < 16; ++i) {
    s.Ack(i);
    s.Eoi();
  }
  s.Ack(kSpurious);
  s.Ack(kSpurious, 0);  // Group 0 is disabled
  s.Add({Op::kGroupEnable, 0, 1});
  s.Ack(0, 0);
  s.Eoi();
  s.Add({Op::kGroupEnable, 0, 0});  // done with Group 0 (see Setup on QEMU's VGrp0D)
  for (uint32_t i = 0; i < 8; ++i) s.EdgeIrq(40 + i, 0x80 - 8 * i);
  for (uint32_t i = 0; i < 8; ++i) s.Inject(40 + i);
  s.Add({Op::kGroupEnable, 1, 0});
  s.Ack(kSpurious);
  s.Add({Op::kGroupEnable, 1, 1});
  for (uint32_t i = 0; i < 8; ++i) {
    s.Ack(47 - i);  // 47 has the highest priority (0x48)
    s.Eoi();
  }
  s.Add({Op::kLogStats});
  return s;
}();

// A level SPI with a deactivation notifier that lowers the line (a resampling device): the guest
// acknowledges and EOIs it within one run; the EOI maintenance interrupt notifies, twice.
inline constexpr auto kLevelNotifier = [] {
  StepList<64> s;
  s.Setup(0, true);
  s.LevelIrq(70, 0x60);
  s.Add({Op::kNotifier, 70});
  for (int round = 0; round < 2; ++round) {
    s.Inject(70, 1);
    s.Ack(70);
    s.Eoi();
  }
  s.Ack(kSpurious);  // the notifier lowered the line
  s.Add({Op::kLogStats});
  return s;
}();

// One LR: a level SPI is acknowledged, its line drops, three SPIs nest above it and push it out
// of the LR; its EOI is counted in EOIcount and the fold notifies exactly once.
inline constexpr auto kLevelOutsideLrs = [] {
  StepList<64> s;
  s.Setup(0, true);
  s.LevelIrq(80, 0xe0);
  s.Add({Op::kNotifier, 80});
  s.Inject(80, 1);
  s.Ack(80);
  s.Inject(80, 0);
  for (uint32_t i = 0; i < 3; ++i) {
    s.EdgeIrq(32 + i, 0x80 - 8 * i);
    s.Inject(32 + i);
    s.Ack(32 + i);
  }
  s.Eoi(4);
  s.Add({Op::kLogStats});
  return s;
}();

// The priority mask: with 5 priority bits a mask of 0x85 reads back 0x80 and masks priority 0x80;
// a mask below everything pending masks the overflowing SPIs, raising it delivers them in order.
inline constexpr auto kPriorityMask = [] {
  StepList<96> s;
  s.Setup(0, true);
  s.Add({Op::kSetPmr, 0x85, 0x80});
  s.EdgeIrq(40, 0x80);
  s.Inject(40);
  s.Ack(kSpurious);  // 0x80 is not above the mask
  s.Add({Op::kReadRpr, 0, 0xff});
  s.EdgeIrq(41, 0x78);
  s.Inject(41);
  s.Ack(41);
  for (uint32_t i = 0; i < 6; ++i) s.EdgeIrq(42 + i, 0x70 - 8 * i);  // 0x70 .. 0x48
  for (uint32_t i = 0; i < 6; ++i) s.Inject(42 + i);
  s.Add({Op::kSetPmr, 0x30, 0x30});
  s.Ack(kSpurious);  // all masked
  s.Add({Op::kSetPmr, 0xf0, 0xf0});
  for (uint32_t i = 0; i < 6; ++i) {
    s.Ack(47 - i);  // highest priority first; none preempts another (each is EOIed first)
    if (i == 0) s.Add({Op::kReadRpr, 0, 0x48});
    s.Eoi();
  }
  s.Add({Op::kReadRpr, 0, 0x78});  // 41 still active
  s.Ack(kSpurious);                // 40's 0x80 cannot preempt 0x78
  s.Eoi();
  s.Ack(40);
  s.Eoi();
  s.Add({Op::kReadRpr, 0, 0xff});
  s.Add({Op::kLogStats});
  return s;
}();

}  // namespace scenario_steps

template <size_t N>
constexpr Scenario MakeScenario(const char* name, int lrs, const StepList<N>& s) {
  return {name, lrs, s.steps.data(), s.size};
}

inline constexpr Scenario kScenarios[] = {
    MakeScenario("nested-eoimode0", 4, scenario_steps::kNestedEoiMode0),
    MakeScenario("nested-eoimode1-dirs-any-order", 4, scenario_steps::kNestedEoiMode1),
    MakeScenario("group-enables-while-overflowing", 4, scenario_steps::kGroupEnables),
    MakeScenario("level-notifier", 2, scenario_steps::kLevelNotifier),
    MakeScenario("level-deactivated-outside-lrs", 1, scenario_steps::kLevelOutsideLrs),
    MakeScenario("priority-mask", 4, scenario_steps::kPriorityMask),
};
inline constexpr uint32_t kNumScenarios = sizeof(kScenarios) / sizeof(kScenarios[0]);

// Hypercall numbers (x0 of the guest's HVC; x1, x2 carry the arguments).
enum class Hypercall : uint32_t {
  kBegin = 1,     // x1: scenario, x2: profile. The host builds a VM for it and enters.
  kHostStep = 2,  // x1: scenario, x2: step index
  kEnd = 3,       // the host checks the VM is idle and logs the result
  kShutdown = 4,  // the image reports and stops
};

}  // namespace irqvirt::vgic::differential

#endif  // IRQVIRT_TESTS_VGIC_DIFFERENTIAL_SCENARIOS_H_
