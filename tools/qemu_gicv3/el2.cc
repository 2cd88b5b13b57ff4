// SPDX-License-Identifier: MIT
// The image's EL2 hypervisor: identity-maps memory, programs QEMU's GICv3 distributor and
// redistributor so that the maintenance interrupt (PPI 25 on the virt board) reaches EL2, runs
// the EL1 guest, and handles its exits with irqvirt's vGIC core and GICv3 backend over
// Aarch64SysRegAccessor (tests/vgic/differential/host_vcpu.h, the same code the fake runs).
// Prints the observation log through semihosting and exits with the number of failures.
#include <cstddef>
#include <cstdint>
#include <new>

#include "hw/arm/gicv3_regs.h"
#include "hw/arm/gicv3_sysreg_accessor.h"
#include "hw/arm/sysreg.h"
#include "tests/vgic/differential/host_vcpu.h"
#include "tests/vgic/differential/scenarios.h"
#include "tools/qemu_gicv3/image.h"
#include "tools/qemu_gicv3/runtime.h"
#include "tools/qemu_gicv3/single_cpu_platform.h"

extern "C" char __el1_stack_top[];
extern "C" void (*__init_array_start[])();
extern "C" void (*__init_array_end[])();

namespace qemu_image {

irqvirt::vgic::differential::ObservationLog g_log;

namespace {

using irqvirt::vgic::differential::Hypercall;
using irqvirt::vgic::differential::Profile;
using Host = irqvirt::vgic::differential::HostVcpu<SingleCpuPlatform, hw::arm::Aarch64SysRegAccessor>;

// QEMU's virt board (hw/arm/virt.c base_memmap): GICv3 distributor and CPU 0's redistributor.
constexpr uintptr_t kGicd = 0x08000000;
constexpr uintptr_t kGicr = 0x080a0000;
constexpr uintptr_t kGicrSgi = kGicr + 0x10000;  // SGI_base frame (IHI 0069 §12.10)
constexpr uint32_t kMaintenanceIntid = 25;       // virt.c ARCH_GIC_MAINT_IRQ (PPI 9)

// IHI 0069 §12.9, §12.10, §12.11 register offsets.
constexpr uintptr_t kGicdCtlr = 0x0000;
constexpr uint32_t kGicdCtlrRwp = 1u << 31;
constexpr uint32_t kGicdCtlrAre = 1u << 4;        // with DS = 1 (QEMU without secure=on)
constexpr uint32_t kGicdCtlrEnableGrp1 = 1u << 1;
constexpr uintptr_t kGicrWaker = 0x0014;
constexpr uint32_t kGicrWakerProcessorSleep = 1u << 1;
constexpr uint32_t kGicrWakerChildrenAsleep = 1u << 2;
constexpr uintptr_t kGicrIgroupr0 = 0x0080;
constexpr uintptr_t kGicrIsenabler0 = 0x0100;
constexpr uintptr_t kGicrIcenabler0 = 0x0180;
constexpr uintptr_t kGicrIpriorityr = 0x0400;

volatile uint32_t& Mmio32(uintptr_t a) { return *reinterpret_cast<volatile uint32_t*>(a); }
volatile uint8_t& Mmio8(uintptr_t a) { return *reinterpret_cast<volatile uint8_t*>(a); }

// Translation tables: one level-1 table per regime, 1 GiB blocks, 4 KiB granule, 39-bit VA
// (Arm ARM D8.3 block descriptors). 0..1 GiB is Device-nGnRnE (the GIC), 1..2 GiB Normal
// write-back RAM. EL2's descriptors carry AP[1] = 1 (RES1 there, as Linux's PTE_HYP); EL1's
// keep it 0, since EL0-accessible memory is never executable at EL1.
constexpr uint64_t kBlock = 0b01;
constexpr uint64_t kAttrDevice = 0 << 2;  // MAIR attr 0: 0x00 Device-nGnRnE
constexpr uint64_t kAttrNormal = 1 << 2;  // MAIR attr 1: 0xff Normal WB RW-allocate
constexpr uint64_t kApEl2Res1 = 1 << 6;
constexpr uint64_t kInnerShareable = 3 << 8;
constexpr uint64_t kAccessFlag = 1 << 10;
constexpr uint64_t kExecuteNever = (uint64_t{1} << 53) | (uint64_t{1} << 54);  // PXN, UXN/XN
constexpr uint64_t kMair = 0xff00;
alignas(4096) uint64_t el2_table[512];
alignas(4096) uint64_t el1_table[512];

#define IRQVIRT_WRITE_SYSREG(name, v) asm volatile("msr " name ", %0" : : "r"(uint64_t{v}) : "memory")
#define IRQVIRT_READ_SYSREG(name, v) asm volatile("mrs %0, " name : "=r"(v) : : "memory")

void EnableMmus() {
  for (uint64_t* table : {el2_table, el1_table}) {
    const uint64_t ap = table == el2_table ? kApEl2Res1 : 0;
    table[0] = 0x00000000 | kBlock | kAttrDevice | kAccessFlag | kExecuteNever | ap;
    table[1] = 0x40000000 | kBlock | kAttrNormal | kAccessFlag | kInnerShareable | ap;
  }
  // TCR_EL2 (non-VHE): T0SZ 25, IRGN0/ORGN0 write-back, SH0 inner, TG0 4K, PS 40-bit, RES1 23, 31.
  const uint64_t tcr_el2 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1u << 23) |
                           (1u << 31);
  // TCR_EL1: the same for TTBR0, EPD1 (no TTBR1 walks), IPS 40-bit.
  const uint64_t tcr_el1 =
      25 | (1 << 8) | (1 << 10) | (3 << 12) | (1u << 23) | (uint64_t{2} << 32);
  IRQVIRT_WRITE_SYSREG("mair_el2", kMair);
  IRQVIRT_WRITE_SYSREG("tcr_el2", tcr_el2);
  IRQVIRT_WRITE_SYSREG("ttbr0_el2", reinterpret_cast<uintptr_t>(el2_table));
  IRQVIRT_WRITE_SYSREG("mair_el1", kMair);
  IRQVIRT_WRITE_SYSREG("tcr_el1", tcr_el1);
  IRQVIRT_WRITE_SYSREG("ttbr0_el1", reinterpret_cast<uintptr_t>(el1_table));
  asm volatile("dsb ish\n\ttlbi alle2\n\ttlbi alle1\n\tdsb ish\n\tisb" : : : "memory");
  // SCTLR_EL2: RES1 bits, M, C, I. SCTLR_EL1 (applies once the guest runs): RES1 bits, M, C, I.
  IRQVIRT_WRITE_SYSREG("sctlr_el2", 0x30c50830 | 1 | (1 << 2) | (1 << 12));
  IRQVIRT_WRITE_SYSREG("sctlr_el1", 0x30d00800 | 1 | (1 << 2) | (1 << 12));
  asm volatile("isb" : : : "memory");
}

void InitGic() {
  // The system-register interface at EL2 and for EL1 (ICC_SRE_EL2.{SRE, Enable}).
  IRQVIRT_WRITE_SYSREG("S3_4_C12_C9_5", 0x9);  // ICC_SRE_EL2
  asm volatile("isb");
  IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_5", 0x1);  // ICC_SRE_EL1.SRE
  asm volatile("isb");
  // Distributor: affinity routing, Group 1.
  Mmio32(kGicd + kGicdCtlr) = kGicdCtlrAre;
  while ((Mmio32(kGicd + kGicdCtlr) & kGicdCtlrRwp) != 0) {
  }
  Mmio32(kGicd + kGicdCtlr) = kGicdCtlrAre | kGicdCtlrEnableGrp1;
  while ((Mmio32(kGicd + kGicdCtlr) & kGicdCtlrRwp) != 0) {
  }
  // Redistributor: awake; the maintenance PPI in Group 1, priority 0x80, enabled.
  Mmio32(kGicr + kGicrWaker) = Mmio32(kGicr + kGicrWaker) & ~kGicrWakerProcessorSleep;
  while ((Mmio32(kGicr + kGicrWaker) & kGicrWakerChildrenAsleep) != 0) {
  }
  Mmio32(kGicrSgi + kGicrIgroupr0) = Mmio32(kGicrSgi + kGicrIgroupr0) | (1u << kMaintenanceIntid);
  Mmio8(kGicrSgi + kGicrIpriorityr + kMaintenanceIntid) = 0x80;
  Mmio32(kGicrSgi + kGicrIsenabler0) = 1u << kMaintenanceIntid;
  // The physical CPU interface: every priority unmasked, EOImode 0, Group 1 on.
  IRQVIRT_WRITE_SYSREG("S3_0_C4_C6_0", 0xff);    // ICC_PMR_EL1
  IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_3", 0);     // ICC_BPR1_EL1
  IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_4", 0);     // ICC_CTLR_EL1
  IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_7", 1);     // ICC_IGRPEN1_EL1
  asm volatile("isb");
}

// IHI 0069 §12.4.8: ICH_MISR_EL2.VGrp0D is VGrp0DIE and not VENG0. Probed on every run (QEMU
// 7.2 tests VENG1 instead, hw/intc/arm_gicv3_cpuif.c maintenance_interrupt_state) and reported
// as "# MISR.VGrp0D with VENG0=1 VENG1=0": 0x20 is the model's bug, 0 the architecture.
uint64_t ProbeVgrp0dWithGroup0Enabled() {
  IRQVIRT_WRITE_SYSREG("S3_4_C12_C11_7", 1);  // ICH_VMCR_EL2: VENG0 = 1, VENG1 = 0
  IRQVIRT_WRITE_SYSREG("S3_4_C12_C11_0", 1 | (1 << 5));  // ICH_HCR_EL2: En, VGrp0DIE
  asm volatile("isb");
  uint64_t misr = 0;
  IRQVIRT_READ_SYSREG("S3_4_C12_C11_2", misr);  // ICH_MISR_EL2
  IRQVIRT_WRITE_SYSREG("S3_4_C12_C11_0", 0);
  IRQVIRT_WRITE_SYSREG("S3_4_C12_C11_7", 0);
  asm volatile("isb");
  return misr;
}

void SetMaintenanceEnabled(bool enabled) {
  Mmio32(kGicrSgi + (enabled ? kGicrIsenabler0 : kGicrIcenabler0)) = 1u << kMaintenanceIntid;
}

hw::arm::Aarch64SysRegAccessor accessor;
SingleCpuPlatform platform;
alignas(Host) unsigned char host_storage[sizeof(Host)];
Host* host = nullptr;
uint64_t last_maintenance_elr = 0;

void PrintLog() {
  ConsoleWrite(g_log.text());
  if (g_log.overflowed()) ConsoleWrite("FAIL image: observation log overflowed\n");
  g_log.Clear();
}

}  // namespace

// Saved by start.S: x0..x30, ELR_EL2, SPSR_EL2.
struct TrapFrame {
  uint64_t x[31];
  uint64_t elr;
  uint64_t spsr;
};

}  // namespace qemu_image

using qemu_image::TrapFrame;

extern "C" void el2_lower_sync(TrapFrame* frame, uint64_t) {
  using namespace qemu_image;  // NOLINT
  uint64_t esr = 0;
  IRQVIRT_READ_SYSREG("esr_el2", esr);
  const uint64_t ec = esr >> 26;       // ESR_EL2.EC
  const uint64_t iss = esr & 0x1ffffff;
  if (ec == 0x16) {  // HVC from AArch64; ELR already points past it
    switch (static_cast<Hypercall>(frame->x[0])) {
      case Hypercall::kBegin:
        SetMaintenanceEnabled(true);
        host->Begin(static_cast<uint32_t>(frame->x[1]), static_cast<Profile>(frame->x[2]));
        return;
      case Hypercall::kHostStep:
        host->HostStep(static_cast<uint32_t>(frame->x[1]), static_cast<uint32_t>(frame->x[2]));
        return;
      case Hypercall::kEnd:
        host->End();
        PrintLog();
        return;
      case Hypercall::kShutdown: {
        const uint64_t failures = frame->x[1] + static_cast<uint64_t>(host->failures());
        ConsoleLine("failures", failures);
        Exit(failures == 0 ? 0 : 1);
      }
    }
    Fatal("unknown hypercall");
  }
  if (ec == 0x18) {  // a trapped MSR/MRS (ISS: Op0, Op2, Op1, CRn, Rt, CRm, Direction)
    const hw::arm::SysRegEncoding reg{
        static_cast<uint8_t>((iss >> 20) & 3), static_cast<uint8_t>((iss >> 14) & 7),
        static_cast<uint8_t>((iss >> 10) & 0xf), static_cast<uint8_t>((iss >> 1) & 0xf),
        static_cast<uint8_t>((iss >> 17) & 7)};
    const bool is_read = (iss & 1) != 0;
    const uint64_t rt = (iss >> 5) & 0x1f;
    const uint64_t value = rt == 31 ? 0 : frame->x[rt];
    const uint64_t read = host->SysRegTrap(reg, !is_read, value);
    if (is_read && rt != 31) frame->x[rt] = read;
    frame->elr += 4;
    return;
  }
  ConsoleLine("unexpected exception from EL1, ESR_EL2", esr);
  ConsoleLine("ELR_EL2", frame->elr);
  PrintLog();
  Exit(2);
}

extern "C" void el2_lower_irq(TrapFrame* frame, uint64_t) {
  using namespace qemu_image;  // NOLINT
  uint64_t iar = 0;
  IRQVIRT_READ_SYSREG("S3_0_C12_C12_0", iar);  // ICC_IAR1_EL1 (physical, at EL2)
  const uint64_t intid = iar & 0xffffff;
  if (intid >= 1020) return;  // spurious
  if (intid != kMaintenanceIntid) {
    ConsoleLine("unexpected physical interrupt", intid);
    IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_1", iar);  // ICC_EOIR1_EL1
    return;
  }
  if (frame->elr != last_maintenance_elr) host->GuestProgressed();
  last_maintenance_elr = frame->elr;
  if (!host->MaintenanceExit()) {
    // Live-lock: logged as a failure; the guest goes on without maintenance interrupts.
    SetMaintenanceEnabled(false);
    IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_1", iar);
    return;
  }
  // Saved: ICH_HCR_EL2.En is clear and the level interrupt has dropped, so the EOI (priority drop
  // and deactivation, EOImode 0) does not see it again; re-entry raises it anew if it holds.
  IRQVIRT_WRITE_SYSREG("S3_0_C12_C12_1", iar);
  asm volatile("isb");
  host->Enter();
}

extern "C" void el2_unexpected(TrapFrame* frame, uint64_t kind) {
  using namespace qemu_image;  // NOLINT
  uint64_t esr = 0;
  IRQVIRT_READ_SYSREG("esr_el2", esr);
  ConsoleLine("unexpected exception at EL2, vector", kind);
  ConsoleLine("ESR_EL2", esr);
  ConsoleLine("ELR_EL2", frame->elr);
  Exit(2);
}

extern "C" void el2_main() {
  using namespace qemu_image;  // NOLINT
  for (auto* f = __init_array_start; f != __init_array_end; ++f) (*f)();
  EnableMmus();
  InitGic();
  uint64_t midr = 0, mpidr = 0, vtr = 0;
  IRQVIRT_READ_SYSREG("midr_el1", midr);
  IRQVIRT_READ_SYSREG("mpidr_el1", mpidr);
  IRQVIRT_READ_SYSREG("S3_4_C12_C11_1", vtr);  // ICH_VTR_EL2
  ConsoleLine("MIDR_EL1", midr);
  ConsoleLine("ICH_VTR_EL2", vtr);
  const auto v = hw::arm::IchVtr::FromRaw(vtr);
  ConsoleLine("list registers", v.num_list_registers());
  ConsoleLine("priority bits", v.pri_bits() + 1);
  ConsoleLine("preemption bits", v.pre_bits() + 1);
  ConsoleLine("TDS", v.tds());
  ConsoleLine("MISR.VGrp0D with VENG0=1 VENG1=0", ProbeVgrp0dWithGroup0Enabled());
  host = new (host_storage) Host(platform, accessor, nullptr, g_log, &HeapAllocations);

  // The guest: AArch64 EL1 (HCR_EL2.RW), physical IRQs and FIQs to EL2 and its ICC_* accesses to
  // the virtual interface (IMO, FMO); FP not trapped (CPTR_EL2 RES1 bits only; CPACR_EL1.FPEN).
  IRQVIRT_WRITE_SYSREG("hcr_el2", (uint64_t{1} << 31) | (1 << 4) | (1 << 3));
  IRQVIRT_WRITE_SYSREG("cptr_el2", 0x33ff);
  IRQVIRT_WRITE_SYSREG("cpacr_el1", 3 << 20);
  IRQVIRT_WRITE_SYSREG("vpidr_el2", midr);
  IRQVIRT_WRITE_SYSREG("vmpidr_el2", mpidr);
  IRQVIRT_WRITE_SYSREG("sp_el1", reinterpret_cast<uintptr_t>(__el1_stack_top));
  IRQVIRT_WRITE_SYSREG("elr_el2", reinterpret_cast<uintptr_t>(&guest_main));
  IRQVIRT_WRITE_SYSREG("spsr_el2", 0x3c5);  // EL1h, DAIF masked: the guest polls its IAR
  asm volatile("isb\n\teret");
  __builtin_unreachable();
}
