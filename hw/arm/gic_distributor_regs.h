// SPDX-License-Identifier: MIT
// The guest-facing GIC programming interface a hypervisor emulates: distributor (GICD) offsets
// for GICv2 and GICv3, the GICv3 redistributor (GICR) frames, and the ID, control, type and
// SGI-generation registers as a VM sees them. Interrupt-array registers (IGROUPR .. ICFGR)
// are one bit, byte or two bits per INTID from the base offset given here.
// Sources: Arm IHI 0048B (GIC v2) §4.1.2 Table 4-1 and §4.3; Arm IHI 0069 (GIC v3/v4) §12.8
// (GICD), §12.10/§12.11 (GICR RD_base and SGI_base) and §12.2 (ICC_SGI*R_EL1); offsets and bit
// positions cross-checked against Linux include/linux/irqchip/arm-gic.h and arm-gic-v3.h.
#ifndef IRQVIRT_HW_ARM_GIC_DISTRIBUTOR_REGS_H_
#define IRQVIRT_HW_ARM_GIC_DISTRIBUTOR_REGS_H_

#include <cstdint>

#include "hw/arm/icc_sysregs.h"
#include "hw/reg/register.h"

namespace hw::arm {

// --- GICD offsets, common to GICv2 and GICv3 (IHI 0048B Table 4-1; IHI 0069 Table 12-25) ---
inline constexpr uint32_t kGicdCtlr = 0x000;
inline constexpr uint32_t kGicdTyper = 0x004;
inline constexpr uint32_t kGicdIidr = 0x008;
inline constexpr uint32_t kGicdIgroupr = 0x080;     // 1 bit per INTID
inline constexpr uint32_t kGicdIsenabler = 0x100;   // 1 bit per INTID, write 1 to set
inline constexpr uint32_t kGicdIcenabler = 0x180;   // 1 bit per INTID, write 1 to clear
inline constexpr uint32_t kGicdIspendr = 0x200;     // 1 bit per INTID, write 1 to set
inline constexpr uint32_t kGicdIcpendr = 0x280;     // 1 bit per INTID, write 1 to clear
inline constexpr uint32_t kGicdIsactiver = 0x300;   // 1 bit per INTID, write 1 to set
inline constexpr uint32_t kGicdIcactiver = 0x380;   // 1 bit per INTID, write 1 to clear
inline constexpr uint32_t kGicdIpriorityr = 0x400;  // 1 byte per INTID, byte accessible
inline constexpr uint32_t kGicdItargetsr = 0x800;   // 1 byte per INTID (GICv2; RES0 if ARE)
inline constexpr uint32_t kGicdIcfgr = 0xc00;       // 2 bits per INTID
inline constexpr uint32_t kGicdIgrpmodr = 0xd00;    // GICv3, RAZ/WI with DS = 1 (§12.9.15)
inline constexpr uint32_t kGicdNsacr = 0xe00;       // RAZ/WI without two security states
inline constexpr uint32_t kGicdSgir = 0xf00;        // GICv2, write-only (RES0 if ARE)
inline constexpr uint32_t kGicdCpendsgir = 0xf10;   // GICv2, 1 byte per SGI, a bit per sender
inline constexpr uint32_t kGicdSpendsgir = 0xf20;   // GICv2, 1 byte per SGI, a bit per sender
inline constexpr uint32_t kGicdIrouter = 0x6000;    // GICv3, 8 bytes per INTID (SPIs from 0x6100)
inline constexpr uint32_t kGicv2DistributorPidr2 = 0xfe8;  // ICPIDR2 (IHI 0048B §4.3.16)
inline constexpr uint32_t kGicv3Pidr2 = 0xffe8;  // GICD_PIDR2 and GICR_PIDR2 (IHI 0069 §12.1.13)
inline constexpr uint32_t kGicv2DistributorSize = 0x1000;   // one 4 KiB frame
inline constexpr uint32_t kGicv3DistributorSize = 0x10000;  // one 64 KiB frame

// --- GICR (IHI 0069 Table 12-27, 12-29): two 64 KiB frames per PE without GICv4 vLPIs ---
inline constexpr uint32_t kGicrCtlr = 0x0000;
inline constexpr uint32_t kGicrIidr = 0x0004;
inline constexpr uint32_t kGicrTyper = 0x0008;  // 64 bits
inline constexpr uint32_t kGicrStatusr = 0x0010;
inline constexpr uint32_t kGicrWaker = 0x0014;
inline constexpr uint32_t kGicrSgiBase = 0x10000;      // SGI_base frame, after RD_base
inline constexpr uint32_t kGicrFrameStride = 0x20000;  // RD_base + SGI_base per PE
// SGI_base-relative: the same offsets as the distributor's first register of each array.
inline constexpr uint32_t kGicrIgroupr0 = 0x080;
inline constexpr uint32_t kGicrIsenabler0 = 0x100;
inline constexpr uint32_t kGicrIcenabler0 = 0x180;
inline constexpr uint32_t kGicrIspendr0 = 0x200;
inline constexpr uint32_t kGicrIcpendr0 = 0x280;
inline constexpr uint32_t kGicrIsactiver0 = 0x300;
inline constexpr uint32_t kGicrIcactiver0 = 0x380;
inline constexpr uint32_t kGicrIpriorityr0 = 0x400;  // IPRIORITYR0..7, INTIDs 0..31
inline constexpr uint32_t kGicrIcfgr0 = 0xc00;       // SGIs
inline constexpr uint32_t kGicrIcfgr1 = 0xc04;       // PPIs

// The SGI generation registers' encodings (kIccSgi1rEl1 ..) are in hw/arm/icc_sysregs.h.

// GICD_CTLR of a GICv2 distributor without the Security Extensions, as a VM sees it.
class GicdCtlrV2 : public reg::Register<GicdCtlrV2, 32> {
 public:
  IRQVIRT_REGISTER("GicdCtlrV2");
  IRQVIRT_FIELD(0, 0, enable_grp0);  // EnableGrp0. IHI 0048B §4.3.1
  IRQVIRT_FIELD(1, 1, enable_grp1);  // EnableGrp1
  IRQVIRT_RESERVED(31, 2);
};

// GICD_CTLR of a GICv3 distributor with a single Security state (DS = 1), IHI 0069 §12.9.4.
class GicdCtlrV3 : public reg::Register<GicdCtlrV3, 32> {
 public:
  IRQVIRT_REGISTER("GicdCtlrV3");
  IRQVIRT_FIELD(0, 0, enable_grp0);  // EnableGrp0. IHI 0069 §12.9.4 (DS == 1 view)
  IRQVIRT_FIELD(1, 1, enable_grp1);  // EnableGrp1; Linux GICD_CTLR_ENABLE_SS_G1 (bit 1)
  IRQVIRT_RESERVED(3, 2);
  IRQVIRT_FIELD(4, 4, are);  // ARE: affinity routing; Linux GICD_CTLR_ARE_NS (bit 4)
  IRQVIRT_RESERVED(5, 5);
  IRQVIRT_FIELD(6, 6, ds);     // DS: security disabled; Linux GICD_CTLR_DS (bit 6)
  IRQVIRT_FIELD(7, 7, e1nwf);  // E1NWF: 1-of-N wakeup
  IRQVIRT_RESERVED(30, 8);
  IRQVIRT_FIELD(31, 31, rwp);  // RWP: register write pending; Linux GICD_CTLR_RWP
};

// GICD_TYPER (IHI 0048B §4.3.2; IHI 0069 §12.9.38). GICv2 has only bits 15:0 (LSPI at 15:11).
class GicdTyper : public reg::Register<GicdTyper, 32> {
 public:
  IRQVIRT_REGISTER("GicdTyper");
  IRQVIRT_FIELD(4, 0, it_lines_number);  // ITLinesNumber: 32 * (N + 1) INTIDs
  IRQVIRT_FIELD(7, 5, cpu_number);       // CPUNumber: CPUs - 1 (GICv2, or GICv3 legacy)
  IRQVIRT_FIELD(8, 8, espi);             // ESPI (GICv3.1); Linux GICD_TYPER_ESPI
  IRQVIRT_RESERVED(9, 9);
  IRQVIRT_FIELD(10, 10, security_extn);     // SecurityExtn
  IRQVIRT_FIELD(15, 11, lspi_or_num_lpis);  // GICv2 LSPI; GICv3 num_LPIs
  IRQVIRT_FIELD(16, 16, mbis);              // MBIS; Linux GICD_TYPER_MBIS
  IRQVIRT_FIELD(17, 17, lpis);              // LPIS; Linux GICD_TYPER_LPIS
  IRQVIRT_FIELD(18, 18, dvis);              // DVIS (GICv4)
  IRQVIRT_FIELD(23, 19, id_bits);           // IDbits: INTID bits - 1; Linux GICD_TYPER_ID_BITS
  IRQVIRT_FIELD(24, 24, a3v);               // A3V: Aff3 supported
  IRQVIRT_FIELD(25, 25, no1n);              // No1N: no 1-of-N SPIs; Linux GICD_TYPER_No1N
  IRQVIRT_FIELD(26, 26, rss);               // RSS: SGI Range Selector; Linux GICD_TYPER_RSS
  IRQVIRT_FIELD(31, 27, espi_range);        // ESPI_range
};

// GICD_IIDR / GICR_IIDR (IHI 0048B §4.3.3; IHI 0069 §12.9.21).
class GicIidr : public reg::Register<GicIidr, 32> {
 public:
  IRQVIRT_REGISTER("GicIidr");
  IRQVIRT_FIELD(11, 0, implementer);  // Implementer: JEP106 code (0x43b is Arm)
  IRQVIRT_FIELD(15, 12, revision);    // Revision
  IRQVIRT_FIELD(19, 16, variant);     // Variant
  IRQVIRT_RESERVED(23, 20);
  IRQVIRT_FIELD(31, 24, product_id);  // ProductID
};

// ICPIDR2 (GICv2) / GICD_PIDR2, GICR_PIDR2 (GICv3): the architecture revision.
class GicPidr2 : public reg::Register<GicPidr2, 32> {
 public:
  IRQVIRT_REGISTER("GicPidr2");
  IRQVIRT_FIELD(2, 0, des_1);     // JEP106 identity code [6:4] (0b011 for Arm)
  IRQVIRT_FIELD(3, 3, jedec);     // JEDEC-assigned identity code is used
  IRQVIRT_FIELD(7, 4, arch_rev);  // ArchRev: 2 = GICv2, 3 = GICv3. IHI 0069 §12.1.13
  IRQVIRT_RESERVED(31, 8);
};

// GICD_SGIR, GICv2 (IHI 0048B §4.3.15; Linux GICD_SGIR_* in kvm-unit-tests and arm-gic.h).
class GicdSgir : public reg::Register<GicdSgir, 32> {
 public:
  IRQVIRT_REGISTER("GicdSgir");
  IRQVIRT_FIELD(3, 0, sgi_int_id);  // SGIINTID
  IRQVIRT_RESERVED(14, 4);
  IRQVIRT_FIELD(15, 15, nsatt);               // NSATT: Security Extensions only, ignored in a VM
  IRQVIRT_FIELD(23, 16, cpu_target_list);     // CPUTargetList: one bit per CPU interface
  IRQVIRT_FIELD(25, 24, target_list_filter);  // TargetListFilter (SgirFilter)
  IRQVIRT_RESERVED(31, 26);
};
enum class SgirFilter : uint8_t { kTargetList = 0, kAllButSelf = 1, kSelf = 2, kReserved = 3 };

// GICD_IROUTER<n>, GICv3 (IHI 0069 §12.9.22; Linux GICD_IROUTER_SPI_MODE_ANY is bit 31).
class GicdIrouter : public reg::Register<GicdIrouter, 64> {
 public:
  IRQVIRT_REGISTER("GicdIrouter");
  IRQVIRT_FIELD(7, 0, aff0);    // Aff0
  IRQVIRT_FIELD(15, 8, aff1);   // Aff1
  IRQVIRT_FIELD(23, 16, aff2);  // Aff2
  IRQVIRT_RESERVED(30, 24);
  IRQVIRT_FIELD(31, 31, irm);   // Interrupt_Routing_Mode: 1 = any PE (1 of N)
  IRQVIRT_FIELD(39, 32, aff3);  // Aff3
  IRQVIRT_RESERVED(63, 40);
};

// GICR_TYPER (IHI 0069 §12.11.35; Linux GICR_TYPER_*).
class GicrTyper : public reg::Register<GicrTyper, 64> {
 public:
  IRQVIRT_REGISTER("GicrTyper");
  IRQVIRT_FIELD(0, 0, plpis);              // PLPIS: physical LPIs
  IRQVIRT_FIELD(1, 1, vlpis);              // VLPIS: GICv4 virtual LPIs (doubles the frame stride)
  IRQVIRT_FIELD(2, 2, dirty);              // Dirty
  IRQVIRT_FIELD(3, 3, direct_lpi);         // DirectLPI
  IRQVIRT_FIELD(4, 4, last);               // Last: the last redistributor of the region
  IRQVIRT_FIELD(5, 5, dpgs);               // DPGS
  IRQVIRT_FIELD(6, 6, mpam);               // MPAM
  IRQVIRT_FIELD(7, 7, rvpeid);             // RVPEID
  IRQVIRT_FIELD(23, 8, processor_number);  // Processor_Number; Linux GICR_TYPER_PROC_NUM
  IRQVIRT_FIELD(25, 24, common_lpi_aff);   // CommonLPIAff
  IRQVIRT_FIELD(26, 26, vsgi);             // VSGI (GICv4.1)
  IRQVIRT_FIELD(31, 27, ppi_num);          // PPInum: 0 = PPIs up to INTID 31
  IRQVIRT_FIELD(39, 32, aff0);  // Affinity_Value: the PE's Aff3.Aff2.Aff1.Aff0 in bits 63:32
  IRQVIRT_FIELD(47, 40, aff1);
  IRQVIRT_FIELD(55, 48, aff2);
  IRQVIRT_FIELD(63, 56, aff3);
};

// GICR_WAKER (IHI 0069 §12.11.42; Linux GICR_WAKER_ProcessorSleep, _ChildrenAsleep).
class GicrWaker : public reg::Register<GicrWaker, 32> {
 public:
  IRQVIRT_REGISTER("GicrWaker");
  IRQVIRT_FIELD(0, 0, impl_def0);        // IMPLEMENTATION DEFINED
  IRQVIRT_FIELD(1, 1, processor_sleep);  // ProcessorSleep
  IRQVIRT_FIELD(2, 2, children_asleep);  // ChildrenAsleep (read-only)
  IRQVIRT_RESERVED(30, 3);
  IRQVIRT_FIELD(31, 31, impl_def31);  // IMPLEMENTATION DEFINED
};

// ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 (IHI 0069 §12.2.21-23; Linux ICC_SGI1R_*).
class IccSgiR : public reg::Register<IccSgiR, 64> {
 public:
  IRQVIRT_REGISTER("IccSgiR");
  IRQVIRT_FIELD(15, 0, target_list);  // TargetList: Aff0 = RS * 16 + bit
  IRQVIRT_FIELD(23, 16, aff1);        // Aff1; Linux ICC_SGI1R_AFFINITY_1_SHIFT 16
  IRQVIRT_FIELD(27, 24, intid);       // INTID; ICC_SGI1R_SGI_ID_SHIFT 24
  IRQVIRT_RESERVED(31, 28);
  IRQVIRT_FIELD(39, 32, aff2);  // Aff2; ICC_SGI1R_AFFINITY_2_SHIFT 32
  IRQVIRT_FIELD(40, 40, irm);   // IRM: 1 = every PE but self; ICC_SGI1R_IRQ_ROUTING_MODE_BIT
  IRQVIRT_RESERVED(43, 41);
  IRQVIRT_FIELD(47, 44, rs);    // RS: range selector; ICC_SGI1R_RS_SHIFT 44
  IRQVIRT_FIELD(55, 48, aff3);  // Aff3; ICC_SGI1R_AFFINITY_3_SHIFT 48
  IRQVIRT_RESERVED(63, 56);
};

static_assert(reg::LayoutIsComplete<GicdCtlrV2>());
static_assert(reg::LayoutIsComplete<GicdCtlrV3>());
static_assert(reg::LayoutIsComplete<GicdTyper>());
static_assert(reg::LayoutIsComplete<GicIidr>());
static_assert(reg::LayoutIsComplete<GicPidr2>());
static_assert(reg::LayoutIsComplete<GicdSgir>());
static_assert(reg::LayoutIsComplete<GicdIrouter>());
static_assert(reg::LayoutIsComplete<GicrTyper>());
static_assert(reg::LayoutIsComplete<GicrWaker>());
static_assert(reg::LayoutIsComplete<IccSgiR>());

// ICFGR Int_config: bit 1 of each 2-bit field, 1 = edge-triggered (IHI 0048B §4.3.13; bit 0
// is reserved in GICv2 and RES0 in GICv3).
inline constexpr uint32_t kIcfgrEdgeBit = 0b10;

}  // namespace hw::arm

#endif  // IRQVIRT_HW_ARM_GIC_DISTRIBUTOR_REGS_H_
