// SPDX-License-Identifier: MIT
// The guest-facing distributor, modelled on what kvm-unit-tests arm/gic.c checks (gic.md §5):
// IPIs to one / all but self / self / a target list, each target acknowledging exactly once with
// the right sender; the `active` test (acknowledge, then clear the active state through
// ICACTIVER); and the MMIO cases: read-only registers, RAZ/WI beyond the implemented
// interrupts, IPRIORITYR and ITARGETSR byte access and patterns, TYPER's counts. Every test runs
// for a GICv2 guest on the GICv2 backend and for a GICv3 guest on the GICv3 backend, unless its
// name says which. Expected values are worked out from the architecture in the comments.
#include <bit>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "hw/arm/gic_distributor_regs.h"
#include "tests/vgic/guest_gic.h"
#include "tests/vgic/vgic_harness.h"

namespace irqvirt::vgic::testing {
namespace {

using hw::fake::kSpuriousIntid;
namespace arm = hw::arm;

constexpr uint32_t kIpiIrq = 1;    // kvm-unit-tests' IPI_IRQ
constexpr uint32_t kSender = 1;    // kvm-unit-tests' IPI_SENDER
constexpr uint32_t kNumSpis = 64;  // INTIDs 32..95

class DistributorTest : public ::testing::TestWithParam<Backend> {
 protected:
  bool v2() const { return GetParam() == Backend::kGicV2; }
  HarnessOptions Options(uint32_t vcpus) {
    return {.num_vcpus = vcpus, .num_spis = kNumSpis, .backend = GetParam()};
  }
  uint32_t Pidr2Offset() const { return v2() ? arm::kGicv2DistributorPidr2 : arm::kGicv3Pidr2; }
};

INSTANTIATE_TEST_SUITE_P(Guests, DistributorTest,
                         ::testing::Values(Backend::kGicV2, Backend::kGicV3),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return BackendName(info.param);
                         });

// What IAR returns for the IPI: GICv2 names the sender in bits 12:10 (IHI 0048B §4.4.4).
uint32_t IpiIar(bool v2, uint32_t sender) { return kIpiIrq | (v2 ? sender << 10 : 0); }

enum class IpiKind { kOne, kAllButSelf, kSelf, kList };

// The sender's register write for `kind`: GICD_SGIR (TargetListFilter 0/1/2, CPUTargetList in
// 23:16, SGIINTID in 3:0) or ICC_SGI1R_EL1 (TargetList 15:0 with Aff1 = 0 for vCPUs 0..15,
// INTID 27:24, IRM bit 40).
void SendIpi(GuestGic& gic, bool v2, IpiKind kind, uint32_t list) {
  if (v2) {
    uint32_t sgir = kIpiIrq;
    if (kind == IpiKind::kAllButSelf) sgir |= 1u << 24;
    if (kind == IpiKind::kSelf) sgir |= 2u << 24;
    if (kind == IpiKind::kOne || kind == IpiKind::kList) sgir |= list << 16;
    gic.DistWrite(kSender, arm::kGicdSgir, sgir);
    return;
  }
  uint64_t value = uint64_t{kIpiIrq} << 24;
  if (kind == IpiKind::kAllButSelf) value |= uint64_t{1} << 40;
  if (kind == IpiKind::kSelf) value |= 1u << kSender;
  if (kind == IpiKind::kOne || kind == IpiKind::kList) value |= list;
  gic.WriteSgiRegister(kSender, arm::kIccSgi1rEl1, value);
}

void ExpectNothingPendingOrActive(VgicHarness& h) {
  for (uint32_t v = 0; v < h.num_vcpus(); ++v) {
    for (uint32_t intid = 0; intid < 32 + kNumSpis; ++intid) {
      const auto s = h.vgic().Snapshot(v, intid);
      ASSERT_TRUE(s.ok());
      EXPECT_FALSE(s->active) << "vCPU " << v << " INTID " << intid;
      EXPECT_FALSE(s->pending_latch) << "vCPU " << v << " INTID " << intid;
    }
    EXPECT_EQ(h.vgic().ApListLength(v), 0u) << "vCPU " << v;
  }
  EXPECT_EQ(h.total_livelocks(), 0u);
  EXPECT_TRUE(h.platform().violations().empty());
}

// The ipi test: every target acknowledges exactly once, with the sender's ID, and nothing else
// (check_acked + check_spurious); vCPUs that are not targets see nothing.
void RunIpi(Backend backend, IpiKind kind, uint32_t list, uint32_t expected_targets) {
  const bool v2 = backend == Backend::kGicV2;
  VgicHarness h({.num_vcpus = 4, .num_spis = kNumSpis, .backend = backend});
  GuestGic gic(h);
  for (uint32_t v = 0; v < 4; ++v) h.Enter(v);
  SendIpi(gic, v2, kind, list);
  for (uint32_t v = 0; v < 4; ++v) {
    std::vector<uint32_t> taken;
    for (int guard = 0; guard < 8; ++guard) {
      const uint32_t iar = h.guest(v).Acknowledge(1);
      if (iar == kSpuriousIntid) break;
      taken.push_back(iar);
      h.guest(v).EoiNewest();  // the handler EOIs with the full IAR value
    }
    if ((expected_targets >> v & 1) != 0) {
      EXPECT_EQ(taken, std::vector<uint32_t>{IpiIar(v2, kSender)}) << "vCPU " << v;
    } else {
      EXPECT_TRUE(taken.empty()) << "vCPU " << v << " is not a target";
    }
  }
  for (uint32_t v = 0; v < 4; ++v) h.Exit(v);
  ExpectNothingPendingOrActive(h);
}

TEST_P(DistributorTest, IpiToOneVcpu) { RunIpi(GetParam(), IpiKind::kOne, 0b0100, 0b0100); }
TEST_P(DistributorTest, IpiToAllButSelf) { RunIpi(GetParam(), IpiKind::kAllButSelf, 0, 0b1101); }
TEST_P(DistributorTest, IpiToSelf) { RunIpi(GetParam(), IpiKind::kSelf, 0, 0b0010); }
TEST_P(DistributorTest, IpiToATargetList) { RunIpi(GetParam(), IpiKind::kList, 0b1101, 0b1101); }
TEST_P(DistributorTest, IpiToCpusThatDoNotExistReachesNobody) {
  // Targets 4..7 (GICv2 CPUTargetList bits, GICv3 Aff0 4..7) name no vCPU of a 4-vCPU VM.
  RunIpi(GetParam(), IpiKind::kList, 0xf0, 0);
}

TEST(DistributorGicV2, ReservedTargetListFilterSendsNothing) {
  VgicHarness h({.num_vcpus = 2, .backend = Backend::kGicV2});
  GuestGic gic(h);
  gic.DistWrite(0, arm::kGicdSgir, 3u << 24 | 0x3u << 16 | kIpiIrq);  // filter 0b11
  for (uint32_t v = 0; v < 2; ++v) EXPECT_EQ(h.vgic().ApListLength(v), 0u);
}

TEST(DistributorGicV3, Sgi0rReachesOnlyGroup0SgisAndIrmSkipsTheSender) {
  VgicHarness h({.num_vcpus = 3, .backend = Backend::kGicV3});
  GuestGic gic(h);
  // SGI 1 is Group 1 (reset) on every vCPU; make it Group 0 on vCPU 2 (GICR_IGROUPR0 bit 1).
  gic.RedistWrite(0, 2, arm::kGicrSgiBase + arm::kGicrIgroupr0, 0xfffffffd);
  gic.WriteSgiRegister(0, arm::kIccSgi0rEl1, uint64_t{1} << 40 | uint64_t{kIpiIrq} << 24);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u) << "IRM = 1 excludes the sender";
  EXPECT_EQ(h.vgic().ApListLength(1), 0u) << "a Group 1 SGI is not sent by ICC_SGI0R_EL1";
  EXPECT_EQ(h.vgic().ApListLength(2), 1u);
  gic.WriteSgiRegister(0, arm::kIccSgi1rEl1, uint64_t{1} << 40 | uint64_t{kIpiIrq} << 24);
  EXPECT_EQ(h.vgic().ApListLength(1), 1u);
}

TEST_P(DistributorTest, ActiveStateClearedThroughIcactiverAfterAcknowledge) {
  // kvm-unit-tests `active`: a self-IPI whose handler acknowledges it and then clears its
  // active state with ICACTIVER (GICv2 distributor, GICv3 redistributor SGI frame), no EOI.
  VgicHarness h(Options(2));
  GuestGic gic(h);
  h.Enter(kSender);
  SendIpi(gic, v2(), IpiKind::kSelf, 0);
  EXPECT_EQ(h.guest(kSender).Acknowledge(1), IpiIar(v2(), kSender));
  EXPECT_EQ(gic.PrivateRead(kSender, arm::kGicdIsactiver), 1u << kIpiIrq)
      << "acknowledged: active, and the trap's fold shows it";
  gic.PrivateWrite(kSender, arm::kGicdIcactiver, 1u << kIpiIrq);
  EXPECT_EQ(gic.PrivateRead(kSender, arm::kGicdIsactiver), 0u);
  EXPECT_EQ(gic.PrivateRead(kSender, arm::kGicdIspendr), 0u);
  EXPECT_EQ(h.guest(kSender).Acknowledge(1), kSpuriousIntid) << "nothing delivered again";
  h.Exit(kSender);
  ExpectNothingPendingOrActive(h);
}

TEST_P(DistributorTest, IsactiverMakesAnSpiActiveOnItsTarget) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  gic.DistWrite(0, arm::kGicdIsactiver + 4, 1u << 8);  // SPI 40, routed to vCPU 0 at reset
  const auto s = h.vgic().Snapshot(0, 40);
  EXPECT_TRUE(s->active);
  EXPECT_EQ(s->on_vcpu_list, 0);
  EXPECT_EQ(gic.DistRead(1, arm::kGicdIsactiver + 4), 1u << 8);
  gic.DistWrite(1, arm::kGicdIcactiver + 4, 1u << 8);  // from another vCPU
  EXPECT_FALSE(h.vgic().Snapshot(0, 40)->active);
  ExpectNothingPendingOrActive(h);
}

TEST_P(DistributorTest, TypeIdAndPidr2AreReadOnly) {
  VgicHarness h(Options(3));
  GuestGic gic(h);
  const uint64_t typer = gic.DistRead(0, arm::kGicdTyper);
  const uint64_t iidr = gic.DistRead(0, arm::kGicdIidr);
  const uint64_t pidr2 = gic.DistRead(0, Pidr2Offset());
  gic.DistWrite(0, arm::kGicdTyper, ~typer & 0xffffffff);
  gic.DistWrite(0, arm::kGicdIidr, ~iidr & 0xffffffff);
  gic.DistWrite(0, Pidr2Offset(), ~pidr2 & 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdTyper), typer);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIidr), iidr);
  EXPECT_EQ(gic.DistRead(0, Pidr2Offset()), pidr2);
  // IIDR: Implementer 0x43b (Arm's JEP106 code) in 11:0, ProductID 'I' (0x49) in 31:24.
  EXPECT_EQ(iidr, 0x4900043bu);
  // PIDR2: ArchRev in 7:4 (2 or 3), JEDEC (bit 3) and JEP106 bits 6:4 = 0b011 in 2:0.
  EXPECT_EQ(pidr2, v2() ? 0x2bu : 0x3bu);
}

TEST_P(DistributorTest, TyperCountsInterruptsAndCpus) {
  VgicHarness h(Options(3));
  GuestGic gic(h);
  const uint64_t typer = gic.DistRead(0, arm::kGicdTyper);
  // 96 INTIDs = 32 * (ITLinesNumber + 1): ITLinesNumber = 2.
  EXPECT_EQ(typer & 0x1f, 2u);
  if (v2()) {
    EXPECT_EQ((typer >> 5) & 7, 2u) << "CPUNumber: 3 CPUs";
    EXPECT_EQ(typer >> 8, 0u) << "no Security Extensions, LSPI 0";
  } else {
    EXPECT_EQ((typer >> 19) & 0x1f, 9u) << "IDbits: 10 bits of INTID";
    EXPECT_EQ((typer >> 25) & 1, 1u) << "No1N";
    EXPECT_EQ((typer >> 26) & 1, 0u) << "RSS: Aff0 0..15 only";
    EXPECT_EQ((typer >> 17) & 1, 0u) << "no LPIs";
  }
}

TEST_P(DistributorTest, CtlrKeepsTheGroupEnablesAndV3ForcesAreAndDs) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  // GICv3: EnableGrp0 (0), EnableGrp1 (1), ARE (4) and DS (6) read one: 0x53.
  const uint64_t fixed = v2() ? 0 : 0x50;
  EXPECT_EQ(gic.DistRead(0, arm::kGicdCtlr), fixed | 0b11) << "the core starts enabled";
  gic.DistWrite(0, arm::kGicdCtlr, 0);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdCtlr), fixed) << "ARE and DS cannot be cleared";
  h.Configure(0, 40, {.enabled = true, .priority = 0x80});
  h.Inject(0, 40, true);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u) << "a disabled distributor forwards nothing";
  gic.DistWrite(0, arm::kGicdCtlr, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdCtlr), fixed | 0b11) << "reserved bits and RWP read 0";
  EXPECT_EQ(h.vgic().ApListLength(0), 1u) << "enabling forwards what is pending";
}

TEST_P(DistributorTest, PriorityByteAndWordAccessUnderTheImplementedMask) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  const uint32_t spi_word = arm::kGicdIpriorityr + 32;  // SPIs 32..35
  gic.DistWrite(0, spi_word, 0xffffffff);
  const uint64_t mask = gic.DistRead(0, spi_word);
  EXPECT_EQ(mask, 0xf8f8f8f8u) << "5 implemented bits, the same in every byte";
  EXPECT_GE(std::popcount(static_cast<uint8_t>(mask)), 4) << "at least 4 priority bits";
  gic.DistWrite(0, spi_word, 0);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0u) << "clearing works";
  gic.DistWrite(0, spi_word, 0xff7fbf3f);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0xff7fbf3fu & mask) << "the pattern survives the mask";
  // Byte access: byte 1 is SPI 33 (0xbf & 0xf8 = 0xb8); a byte write to SPI 34 alone.
  EXPECT_EQ(gic.DistRead(0, spi_word + 1, 1), 0xb8u);
  gic.DistWrite(0, spi_word + 2, 0x40, 1);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0xf840b838u);
  EXPECT_EQ(h.vgic().Snapshot(0, 34)->priority, 0x40);
  // The last implemented SPIs (92..95) are reachable; beyond them (96..) is RAZ/WI.
  const uint32_t last = arm::kGicdIpriorityr + 92;
  gic.DistWrite(0, last, 0x80808080);
  EXPECT_EQ(gic.DistRead(0, last), 0x80808080u);
  gic.DistWrite(0, last + 4, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, last + 4), 0u);
  gic.DistWrite(0, arm::kGicdIpriorityr + 0x3f8, 0xffffffff);  // INTIDs 1016..1019
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIpriorityr + 0x3f8), 0u);
  // Misaligned and odd-width accesses do nothing.
  gic.DistWrite(0, spi_word + 1, 0x10101010, 4);
  gic.DistWrite(0, spi_word, 0x1010, 2);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0xf840b838u);
  EXPECT_EQ(gic.DistRead(0, spi_word, 2), 0u);
}

TEST_P(DistributorTest, PrivatePrioritiesAreBankedPerVcpu) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  gic.PrivateWrite(1, arm::kGicdIpriorityr + 16, 0x60, 1);  // PPI 16 of vCPU 1
  EXPECT_EQ(gic.PrivateRead(1, arm::kGicdIpriorityr + 16, 1), 0x60u);
  EXPECT_EQ(gic.PrivateRead(0, arm::kGicdIpriorityr + 16, 1), 0u) << "vCPU 0's own PPI 16";
  EXPECT_EQ(h.vgic().Snapshot(1, 16)->priority, 0x60);
  if (!v2()) {
    // GICv3 (ARE = 1): the distributor's registers for INTIDs 0..31 are RES0.
    gic.DistWrite(1, arm::kGicdIpriorityr + 16, 0xffffffff);
    EXPECT_EQ(gic.DistRead(1, arm::kGicdIpriorityr + 16), 0u);
    gic.DistWrite(1, arm::kGicdIsenabler, 0xffffffff);
    EXPECT_EQ(gic.DistRead(1, arm::kGicdIsenabler), 0u);
    EXPECT_FALSE(h.vgic().Snapshot(1, 20)->enabled);
  }
}

TEST_P(DistributorTest, EnableAndGroupReadBackAsWritten) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  const uint32_t spis = 4;  // the second register: INTIDs 32..63
  gic.DistWrite(0, arm::kGicdIcenabler + spis, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIsenabler + spis), 0u);
  gic.DistWrite(0, arm::kGicdIsenabler + spis, 0x80000005);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIsenabler + spis), 0x80000005u);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIcenabler + spis), 0x80000005u);
  gic.DistWrite(0, arm::kGicdIcenabler + spis, 0x1);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIsenabler + spis), 0x80000004u);
  EXPECT_TRUE(h.vgic().Snapshot(0, 63)->enabled);
  EXPECT_FALSE(h.vgic().Snapshot(0, 32)->enabled);
  gic.DistWrite(0, arm::kGicdIgroupr + spis, 0x0000ff00);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIgroupr + spis), 0x0000ff00u);
  EXPECT_EQ(h.vgic().Snapshot(0, 40)->group, 1);
  EXPECT_EQ(h.vgic().Snapshot(0, 39)->group, 0);
  // Private enables, through the banked or redistributor registers.
  gic.PrivateWrite(1, arm::kGicdIsenabler, 0x00010000);  // PPI 16
  EXPECT_EQ(gic.PrivateRead(1, arm::kGicdIsenabler) & 0xffff0000, 0x00010000u);
  EXPECT_TRUE(h.vgic().Snapshot(1, 16)->enabled);
  EXPECT_FALSE(h.vgic().Snapshot(0, 16)->enabled);
  // A byte write to a bit array and a misaligned word do nothing; beyond INTID 95 is RAZ/WI.
  gic.DistWrite(0, arm::kGicdIsenabler + spis, 0xff, 1);
  gic.DistWrite(0, arm::kGicdIsenabler + spis + 2, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIsenabler + spis), 0x80000004u);
  gic.DistWrite(0, arm::kGicdIsenabler + 12, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIsenabler + 12), 0u);
}

TEST_P(DistributorTest, IcfgrSgisAreEdgeReadOnlyAndSpisProgrammable) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  // SGIs: Int_config 0b10 (edge) in each 2-bit field, read-only.
  gic.PrivateWrite(0, arm::kGicdIcfgr, 0);
  EXPECT_EQ(gic.PrivateRead(0, arm::kGicdIcfgr), 0xaaaaaaaau);
  // SPIs 32..47 (ICFGR2): SPI 33 level (field 1 = 0b00), the rest edge; reserved bit 0 of each
  // field reads 0.
  gic.DistWrite(0, arm::kGicdIcfgr + 8, 0xfffffff3);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIcfgr + 8), 0xaaaaaaa2u);
  EXPECT_EQ(h.vgic().Snapshot(0, 33)->trigger, Trigger::kLevel);
  EXPECT_EQ(h.vgic().Snapshot(0, 34)->trigger, Trigger::kEdge);
}

TEST_P(DistributorTest, PendingSetAndClearedThroughIspendrAndIcpendr) {
  VgicHarness h(Options(2));
  GuestGic gic(h);
  h.Configure(0, 41, {.enabled = true, .priority = 0x80});
  gic.DistWrite(1, arm::kGicdIspendr + 4, 1u << 9);  // SPI 41, routed to vCPU 0
  EXPECT_EQ(gic.DistRead(1, arm::kGicdIspendr + 4), 1u << 9);
  EXPECT_EQ(h.vgic().ApListLength(0), 1u);
  gic.DistWrite(1, arm::kGicdIcpendr + 4, 1u << 9);
  EXPECT_EQ(gic.DistRead(1, arm::kGicdIspendr + 4), 0u);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u) << "no longer pending: off the AP list";
  gic.DistWrite(1, arm::kGicdIspendr + 4, 1u << 9);
  h.Enter(0);
  EXPECT_EQ(h.guest(0).Acknowledge(1), 41u);
  h.guest(0).EoiNewest();
  h.Exit(0);
  ExpectNothingPendingOrActive(h);
}

TEST_P(DistributorTest, UnknownVcpuIsTheEmbeddersError) {
  VgicHarness h(Options(2));
  Distributor<Platform> d(h.vgic());
  EXPECT_EQ(d.Read(2, arm::kGicdTyper, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Write(7, arm::kGicdCtlr, 4, 0).code(), absl::StatusCode::kInvalidArgument);
  // Garbage from the guest is never an error.
  EXPECT_TRUE(d.Write(0, 0xfff, 3, ~0ull).ok());
  EXPECT_EQ(*d.Read(0, 0x1234567, 4), 0u);
  EXPECT_EQ(*d.Read(0, 0x10, 4), 0u) << "reserved";
}

// --- GICv2 only: ITARGETSR, SGIR pending registers.

TEST(DistributorGicV2, TargetsPatternByteAccessAndBankedReadOnlyBytes) {
  VgicHarness h({.num_vcpus = 4, .num_spis = kNumSpis, .backend = Backend::kGicV2});
  GuestGic gic(h);
  const uint32_t spi_word = arm::kGicdItargetsr + 32;  // SPIs 32..35
  gic.DistWrite(0, spi_word, 0x0103020f);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0x0103020fu);
  // Routed to the lowest CPU named: 32 (0x0f) -> 0, 33 (0x02) -> 1, 34 (0x03) -> 0, 35 -> 0.
  EXPECT_EQ(h.vgic().Snapshot(0, 32)->target, 0);
  EXPECT_EQ(h.vgic().Snapshot(0, 33)->target, 1);
  gic.DistWrite(0, spi_word + 1, 0x08, 1);
  EXPECT_EQ(gic.DistRead(0, spi_word + 1, 1), 0x08u);
  EXPECT_EQ(h.vgic().Snapshot(0, 33)->target, 3);
  // Bits of CPUs that do not exist are masked (4 vCPUs: 0x0f).
  gic.DistWrite(0, spi_word, 0xffffffff);
  EXPECT_EQ(gic.DistRead(0, spi_word), 0x0f0f0f0fu);
  // ITARGETSR0..7 are read-only and name the reader in every byte.
  EXPECT_EQ(gic.DistRead(2, arm::kGicdItargetsr), 0x04040404u);
  EXPECT_EQ(gic.DistRead(3, arm::kGicdItargetsr + 28, 1), 0x08u);
  gic.DistWrite(2, arm::kGicdItargetsr, 0);
  EXPECT_EQ(gic.DistRead(2, arm::kGicdItargetsr), 0x04040404u);
  // Beyond the implemented SPIs: RAZ/WI.
  gic.DistWrite(0, arm::kGicdItargetsr + 96, 0x01010101);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdItargetsr + 96), 0u);
}

TEST(DistributorGicV2, TargetsOfCpusThatDoNotExistAreMasked) {
  VgicHarness h({.num_vcpus = 3, .num_spis = kNumSpis, .backend = Backend::kGicV2});
  GuestGic gic(h);
  gic.DistWrite(0, arm::kGicdItargetsr + 32, 0x0103020f);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdItargetsr + 32), 0x01030207u);
  // An SPI with no target is forwarded nowhere.
  gic.DistWrite(0, arm::kGicdItargetsr + 40, 0x08, 1);  // only CPU 3, which does not exist
  EXPECT_EQ(gic.DistRead(0, arm::kGicdItargetsr + 40, 1), 0u);
  h.Configure(0, 40, {.enabled = true, .priority = 0x80});
  h.Inject(0, 40, true);
  for (uint32_t v = 0; v < 3; ++v) EXPECT_EQ(h.vgic().ApListLength(v), 0u);
  gic.DistWrite(0, arm::kGicdItargetsr + 40, 0x04, 1);
  EXPECT_EQ(h.vgic().ApListLength(2), 1u) << "routed: the pending SPI goes to vCPU 2";
}

TEST(DistributorGicV2, SgiPendingPerSenderThroughSpendsgirAndCpendsgir) {
  VgicHarness h({.num_vcpus = 4, .backend = Backend::kGicV2});
  GuestGic gic(h);
  // SPENDSGIR byte n is SGI n, bit s is sender s; CPU 7 does not exist and is dropped.
  gic.DistWrite(2, arm::kGicdSpendsgir + 5, 0x8b, 1);  // SGI 5 from 0, 1, 3 (and 7) on vCPU 2
  EXPECT_EQ(gic.DistRead(2, arm::kGicdSpendsgir + 4), 0x0bu << 8);
  EXPECT_EQ(gic.DistRead(2, arm::kGicdCpendsgir + 4), 0x0bu << 8);
  EXPECT_EQ(gic.DistRead(1, arm::kGicdSpendsgir + 4), 0u) << "banked per vCPU";
  EXPECT_EQ(gic.DistRead(2, arm::kGicdIspendr), 1u << 5);
  gic.DistWrite(2, arm::kGicdIcpendr, 1u << 5);  // WI for SGIs on GICv2
  gic.DistWrite(2, arm::kGicdCpendsgir + 5, 0x02, 1);
  EXPECT_EQ(gic.DistRead(2, arm::kGicdSpendsgir + 5, 1), 0x09u);
  h.Enter(2);
  std::vector<uint32_t> taken;
  for (int guard = 0; guard < 8; ++guard) {
    const uint32_t iar = h.guest(2).Acknowledge(1);
    if (iar == kSpuriousIntid) break;
    taken.push_back(iar);
    h.guest(2).EoiNewest();
  }
  EXPECT_EQ(taken, (std::vector<uint32_t>{5 | 0 << 10, 5 | 3 << 10}));
  h.Exit(2);
  ExpectNothingPendingOrActive(h);
}

// --- GICv3 only: IROUTER.

TEST(DistributorGicV3, IrouterRoutesByAffinityAndReadsBackAsWritten) {
  VgicHarness h({.num_vcpus = 20, .num_spis = kNumSpis, .backend = Backend::kGicV3});
  GuestGic gic(h);
  const uint32_t spi40 = arm::kGicdIrouter + 8 * 40;
  EXPECT_EQ(gic.DistRead(0, spi40, 8), 0u) << "reset: vCPU 0 (affinity 0.0.0.0)";
  // vCPU 18 is Aff1 = 1, Aff0 = 2. IRM (bit 31) and Aff3 (39:32) are RAZ/WI.
  gic.DistWrite(0, spi40, 0xff'8000'0102, 8);
  EXPECT_EQ(gic.DistRead(0, spi40, 8), 0x0102u);
  EXPECT_EQ(h.vgic().Snapshot(0, 40)->target, 18);
  // 32-bit halves: the low half alone.
  gic.DistWrite(0, spi40, 0x0003, 4);
  EXPECT_EQ(gic.DistRead(0, spi40, 4), 0x0003u);
  EXPECT_EQ(gic.DistRead(0, spi40 + 4, 4), 0u);
  EXPECT_EQ(h.vgic().Snapshot(0, 40)->target, 3);
  // An affinity no vCPU has reads back, and the SPI is forwarded nowhere.
  gic.DistWrite(0, spi40, 0x0505, 8);
  EXPECT_EQ(gic.DistRead(0, spi40, 8), 0x0505u);
  EXPECT_EQ(h.vgic().Snapshot(0, 40)->target, kNoVcpu);
  // IROUTER0..31 are reserved; beyond the implemented SPIs RAZ/WI.
  gic.DistWrite(0, arm::kGicdIrouter + 8 * 5, 1, 8);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIrouter + 8 * 5, 8), 0u);
  gic.DistWrite(0, arm::kGicdIrouter + 8 * 96, 1, 8);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdIrouter + 8 * 96, 8), 0u);
  // A host RouteSpi since wins, and the register shows it.
  ASSERT_TRUE(h.vgic().RouteSpi(40, 17).ok());
  EXPECT_EQ(gic.DistRead(0, spi40, 8), 0x0101u);
  // GICv2-only registers are RES0 with ARE = 1.
  gic.DistWrite(0, arm::kGicdItargetsr + 40, 0xff, 1);
  EXPECT_EQ(gic.DistRead(0, arm::kGicdItargetsr + 40, 1), 0u);
  gic.DistWrite(0, arm::kGicdSgir, 2u << 24 | 1);
  EXPECT_EQ(h.vgic().ApListLength(0), 0u);
}

}  // namespace
}  // namespace irqvirt::vgic::testing
