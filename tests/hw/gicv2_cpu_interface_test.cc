// SPDX-License-Identifier: MIT
// The GICv2 backend's GICH access order (the GICv3 backend's, translated) and the fake GICv2
// interface's answers to accesses the hardware does not have. Raw values are hand-computed from
// the GICH bit tables (tests/hw/gicv2_registers_test.cc).
#include "hw/arm/gicv2_cpu_interface.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "hw/arm/gicv2_regs.h"
#include "hw/fake/fake_gicv2_cpu_interface.h"
#include "hw/fake/fake_physical_gic.h"
#include "hw/mmio_region.h"
#include "hw/vgic_cpu_state.h"

namespace hw::arm {
namespace {

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

// A GICH window that logs every access (offsets and values in hex) and answers reads from a
// table.
class RecordingGich : public MmioRegion {
 public:
  uint32_t Read32(uint32_t offset) override {
    log.push_back("R" + Hex(offset));
    return offset == kGichVtr ? vtr : (offset == kGichElrsr0 ? elrsr : reads);
  }
  void Write32(uint32_t offset, uint32_t value) override {
    log.push_back("W" + Hex(offset) + "=" + Hex(value));
  }
  uint64_t Read64(uint32_t) override {
    log.push_back("R64");
    return 0;
  }
  void Write64(uint32_t, uint64_t) override { log.push_back("W64"); }

  uint32_t vtr = 0x9000003f;  // 64 LRs
  uint32_t elrsr = 0;
  uint32_t reads = 0;
  std::vector<std::string> log;
};

TEST(GicV2CpuInterface, FeaturesFromVtrCappedAtTheStatesSixteenLrs) {
  RecordingGich gich;
  GicV2CpuInterface backend(gich);
  EXPECT_EQ(backend.features().num_list_registers, 16) << "VTR says 64; the state holds 16";
  EXPECT_EQ(backend.features().priority_bits, 5);
  EXPECT_EQ(backend.features().num_apr_registers, 1);
}

TEST(GicV2CpuInterface, SaveReadsStatusFirstAndOnlyTheLrsElrsrSaysHoldSomething) {
  RecordingGich gich;
  GicV2CpuInterface backend(gich);
  gich.log.clear();
  gich.elrsr = 0x2;  // LR1 empty
  gich.reads = 0x5a080405;
  VgicCpuState s;
  s.used_lrs = 2;
  s.lr[1] = 0x50a0020000000806u;                    // pending: Save clears the State bits
  s.hcr = IchHcr().set_en(1).set_lrenpie(1).raw();  // LRENPIE: EOICount is kept
  backend.Save(s);
  // MISR, EISR0, ELRSR0, LR0 (LR1 is empty), both LRs zeroed, VMCR, HCR, HCR zeroed, APR.
  EXPECT_EQ(gich.log, (std::vector<std::string>{"R10", "R20", "R30", "R100", "W100=0", "W104=0",
                                                "R8", "R0", "W0=0", "Rf0"}));
  // 0x5a080405 read as LR0 is SGI 5 from CPU 1, pending, EOI, priority 0xa0: in ICH layout
  // vINTID 5 | 1 << 10 = 0x405, state 1 << 62, group bit 60, priority 0xa0 << 48, EOI bit 41.
  EXPECT_EQ(s.lr[0], 0x50a0020000000405u);
  EXPECT_EQ(s.lr[1], 0x10a0020000000806u) << "empty LR: state cleared, not read";
  // GICH_HCR read as 0x5a080405: EOICount is its bits 31:27 = 0xb.
  EXPECT_EQ(IchHcr::FromRaw(s.hcr).eoicount(), 0xbu);
  EXPECT_EQ(s.ap0r[0], 0u);
  EXPECT_EQ(s.ap1r[0], 0x5a080405u) << "the one GICH_APR";
}

TEST(GicV2CpuInterface, RestoreWritesHcrLast) {
  RecordingGich gich;
  GicV2CpuInterface backend(gich);
  gich.log.clear();
  VgicCpuState s;
  s.used_lrs = 1;
  s.lr[0] = 0x50a0020000000405u;                         // GICH 0x5a080405
  s.hcr = IchHcr().set_en(1).set_tdir(1).raw();          // TDIR has no GICH bit: GICH_HCR = 1
  s.vmcr = IchVmcr().set_veng1(1).set_vpmr(0xf8).raw();  // GICH 0xf8000002
  s.ap0r[0] = 0x1;
  s.ap1r[0] = 0x4;
  backend.Restore(s);
  // APR (both groups in one), VMCR, LR0, then HCR.
  EXPECT_EQ(gich.log, (std::vector<std::string>{"Wf0=5", "W8=f8000002", "W100=5a080405", "W0=1"}));
}

TEST(FakeGicV2CpuInterface, AccessesTheHardwareDoesNotHaveReadZeroAndWriteNothing) {
  hw::fake::FakePhysicalGic physical;
  hw::fake::FakeGicV2CpuInterface gich({.num_list_registers = 4}, &physical);
  // GICH_VTR: ListRegs 3 | PREbits 4 << 26 | PRIbits 4 << 29.
  EXPECT_EQ(gich.Read32(kGichVtr), 0x90000003u);
  gich.Write32(GichLrOffset(4), 0x10000020);  // LR4: this CPU has LR0..3
  EXPECT_EQ(gich.Read32(GichLrOffset(4)), 0u);
  gich.Write32(kGichVtr, 0);  // read-only
  EXPECT_EQ(gich.Read32(kGichVtr), 0x90000003u);
  EXPECT_EQ(gich.Read32(GichLrOffset(0) + 2), 0u);  // unaligned
  EXPECT_EQ(gich.Read32(0x040), 0u);                // no register there
  EXPECT_EQ(gich.Read64(kGichHcr), 0u);             // GICH is word-accessed
  gich.Write64(kGichHcr, 1);
  EXPECT_EQ(gich.Read32(kGichHcr), 0u) << "the 64-bit write changed nothing";
  EXPECT_EQ(gich.bad_accesses(), 7u);
  // A real LR holds what was written (GICH layout in, GICH layout out).
  gich.Write32(GichLrOffset(3), 0x5a080405u);
  EXPECT_EQ(gich.Read32(GichLrOffset(3)), 0x5a080405u);
  EXPECT_EQ(gich.Read32(kGichElrsr0), 0x7u) << "LR3 holds an interrupt; LR0..2 are empty";
  EXPECT_EQ(gich.bad_accesses(), 7u);
}

TEST(FakeGicV2CpuInterface, ListRegisterCountIsClampedToWhatTheEngineHolds) {
  hw::fake::FakePhysicalGic physical;
  hw::fake::FakeGicV2CpuInterface many({.num_list_registers = 64}, &physical);
  EXPECT_EQ(GichVtr::FromRaw(many.Read32(kGichVtr)).num_list_registers(), 16);
  EXPECT_EQ(many.Read32(GichLrOffset(16)), 0u);
  EXPECT_EQ(many.bad_accesses(), 1u) << "LR16 does not exist";
  hw::fake::FakeGicV2CpuInterface none({.num_list_registers = 0}, &physical);
  EXPECT_EQ(GichVtr::FromRaw(none.Read32(kGichVtr)).num_list_registers(), 1);
}

TEST(FakeGicV2CpuInterface, EoiMatchesTheSenderAndItsEoiBitRaisesTheMaintenanceInterrupt) {
  hw::fake::FakePhysicalGic physical;
  hw::fake::FakeGicV2CpuInterface gich({.num_list_registers = 4}, &physical);
  gich.Write32(kGichVmcr, 0xf8000002u);        // Group 1 enabled, priority mask 0xf8
  gich.Write32(GichLrOffset(0), 0x5a080405u);  // SGI 5 from CPU 1, EOI
  gich.Write32(GichLrOffset(1), 0x5a000c07u);  // SGI 7 from CPU 3, no EOI
  gich.Write32(kGichHcr, 0x1);                 // En
  EXPECT_FALSE(gich.maintenance_interrupt());
  EXPECT_EQ(gich.Acknowledge(1), 0x405u) << "IAR: SGI 5, sender 1 in bits 12:10";
  gich.EndOfInterrupt(1, 0x405);
  EXPECT_EQ(gich.Read32(kGichEisr0), 0x1u) << "LR0 deactivated with EOI = 1";
  EXPECT_EQ(gich.Read32(kGichMisr), 0x1u) << "GICH_MISR.EOI";
  EXPECT_TRUE(gich.maintenance_interrupt());
  EXPECT_EQ(gich.Acknowledge(1), 0xc07u);
  gich.EndOfInterrupt(1, 0x807);  // names sender 2: no LR matches, EOICount counts it
  EXPECT_EQ(gich.hcr().eoicount(), 1u);
  EXPECT_EQ(gich.Read32(GichLrOffset(1)), 0x6a000c07u) << "still Active (state 2 << 28)";
  EXPECT_EQ(gich.RunningPriority(), 0xff) << "the priority was dropped all the same";
  EXPECT_EQ(gich.Deactivate(0xc07), hw::fake::DirOutcome::kTrapped) << "GICV_DIR always traps";
  EXPECT_EQ(gich.Read32(GichLrOffset(1)), 0x6a000c07u) << "a trapped DIR changes nothing here";
}

TEST(FakeGicV2CpuInterface, MappedDirPageDeactivatesTheLrOfTheNamedSender) {
  hw::fake::FakePhysicalGic physical;
  hw::fake::FakeGicV2CpuInterface gich({.num_list_registers = 4, .dir_page_mapped = true},
                                       &physical);
  gich.Write32(kGichVmcr, 0xf8000202u);        // Group 1, EOImode 1 (bit 9), mask 0xf8
  gich.Write32(GichLrOffset(0), 0x5a000405u);  // SGI 5 from CPU 1
  gich.Write32(kGichHcr, 0x1);
  EXPECT_EQ(gich.Acknowledge(1), 0x405u);
  gich.EndOfInterrupt(1, 0x405);  // priority drop only
  EXPECT_EQ(gich.Read32(GichLrOffset(0)), 0x6a000405u) << "still Active";
  EXPECT_EQ(gich.Deactivate(0x805), hw::fake::DirOutcome::kDone);  // sender 2: no LR matches
  EXPECT_EQ(gich.Read32(GichLrOffset(0)), 0x6a000405u);
  EXPECT_EQ(gich.hcr().eoicount(), 1u) << "counted as a deactivation outside the LRs";
  EXPECT_EQ(gich.Deactivate(0x405), hw::fake::DirOutcome::kDone);
  EXPECT_EQ(gich.Read32(GichLrOffset(0)), 0x4a000405u) << "Invalid (state 0), Grp1 kept";
  EXPECT_EQ(gich.Read32(kGichElrsr0), 0xfu);
  EXPECT_EQ(gich.dir_traps(), 0u);
}

}  // namespace
}  // namespace hw::arm
