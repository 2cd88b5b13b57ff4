// SPDX-License-Identifier: MIT
#include "tools/decode.h"

#include <gtest/gtest.h>

namespace irqvirt::tools {
namespace {

TEST(Decode, GuestModeIrteUsesGuestView) {
  const DecodeResult r = Decode({"irte-ga", "0x0000800334567885", "0x1200000123456041"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "IrteGaGuest{valid=1 no_fault=0 ga_log_intr=1 gappi_dis=0 is_run=0 guest_mode=1 "
            "destination_lo=0x345678 ga_tag=0x8003 vector=0x41 ga_root_ptr=0x123456 "
            "destination_hi=0x12}\ndestination=0x12345678\n");
  EXPECT_EQ(r.err, "");
}

TEST(Decode, RemappedIrteFlagsLeftoverGaTag) {
  const DecodeResult r = Decode({"irte-ga", "100000a41", "ec"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("IrteGaRemapped{valid=1"), std::string::npos);
  EXPECT_NE(r.out.find("rsvd[63:32]=0x1!"), std::string::npos);
  EXPECT_NE(r.out.find("warning: non-zero reserved bits"), std::string::npos);
}

TEST(Decode, EveryKind) {
  EXPECT_EQ(Decode({"irte32", "0x00310305"}).out,
            "Irte32{valid=1 no_fault=0 int_type=0x1 rq_eoi=0 dest_mode=0 destination=0x3 "
            "vector=0x31}\n");
  EXPECT_EQ(Decode({"ga-log", "100000a000000603"}).out,
            "GaLogEntry{ga_tag=0x603 device_id=0xa0 event_type=0x1}\n");
  const DecodeResult avic = Decode({"avic-phys", "0xe0000000abcde123"});
  EXPECT_NE(avic.out.find("ga_log_intent=1 is_running=1 valid=1"), std::string::npos);
  EXPECT_NE(avic.out.find("software-only"), std::string::npos);
  EXPECT_EQ(Decode({"pi-desc", "0x0000050000f20001", "0", "0x2", "0", "0x8000000000000000"}).out,
            "PiControl{on=1 sn=0 nv=0xf2 ndst=0x500}\npir: 0x41 0xff\n");
  EXPECT_EQ(Decode({"pi-desc", "0"}).exit_code, 0);
  EXPECT_NE(Decode({"ioapic-rte", "0x0f00000000018931"}).out.find("trigger_mode=1 mask=1"),
            std::string::npos);
}

// VT-d values worked out by hand in tests/hw/intel_registers_test.cc.
TEST(Decode, VtdIrteChoosesFormatByIm) {
  const DecodeResult p = Decode({"vtd-irte", "0x2345678000418001", "0x00000001000400a0"});
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_EQ(p.out,
            "VtdIrtePosted{present=1 fault_processing_disable=0 available=0x0 urgent=0 irte_mode=1 "
            "virtual_vector=0x41 pi_desc_address_lo=0x8d159e source_id=0xa0 "
            "source_id_qualifier=0x0 source_validation=0x1 pi_desc_address_hi=0x1}\n"
            "pi_desc_address=0x123456780\n");
  const DecodeResult r = Decode({"vtd-irte", "0x1234567800310009", "0x400a0"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("VtdIrteRemapped{present=1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vector=0x31 destination=0x12345678"), std::string::npos) << r.out;
  EXPECT_EQ(Decode({"vtd-irte", "1"}).exit_code, 2);
}

TEST(Decode, VtdInvalidationDescriptorByType) {
  EXPECT_EQ(Decode({"vtd-inv-desc", "0x0000123400000014", "0"}).out,
            "VtdIecInvalidation{type=0x4 index_selective=1 type_hi=0x0 index_mask=0x0 "
            "index=0x1234}\n");
  const DecodeResult w = Decode({"vtd-inv-desc", "0x0000000100000065", "0x1000"});
  EXPECT_NE(w.out.find("status_write=1 fence=1"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("status_address=0x1000"), std::string::npos) << w.out;
  const DecodeResult bad = Decode({"vtd-inv-desc", "0x3", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("type 0x3"), std::string::npos) << bad.err;
}

// GICv3 values worked out by hand in tests/hw/arm_registers_test.cc.
TEST(Decode, GichLrChoosesViewByHwBit) {
  // SGI 3 from CPU 2, pending, Group 1, priority 0xa0 (0x14 in bits 27:23), EOI (bit 19); see
  // tests/hw/gicv2_registers_test.cc for the hand computation.
  const DecodeResult v = Decode({"gich-lr", "0x5a080803"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out,
            "GichLrVirtual{virtual_id=0x3 cpuid=0x2 eoi=1 priority=0x14 state=0x1 grp1=1 hw=0}\n");
  const DecodeResult h = Decode({"gich-lr", "ea006c1b"});
  EXPECT_EQ(h.out,
            "GichLrHardware{virtual_id=0x1b physical_id=0x1b priority=0x14 state=0x2 grp1=1 "
            "hw=1}\n");
  // Bit 13 is RES0 in the HW = 0 view.
  EXPECT_EQ(Decode({"gich-lr", "0x5a082803"}).out,
            "GichLrVirtual{virtual_id=0x3 cpuid=0x2 rsvd[18:13]=0x1! eoi=1 priority=0x14 state=0x1 "
            "grp1=1 hw=0}\nwarning: non-zero reserved bits (marked !)\n");
}

TEST(Decode, GichHcrAndMisr) {
  EXPECT_EQ(Decode({"gich-hcr", "0x2800008f"}).out,
            "GichHcr{en=1 uie=1 lrenpie=1 npie=1 vgrp0eie=0 vgrp0die=0 vgrp1eie=0 vgrp1die=1 "
            "eoicount=0x5}\n");
  EXPECT_EQ(Decode({"gich-misr", "89"}).out,
            "GichMisr{eoi=1 u=0 lrenp=0 np=1 vgrp0e=0 vgrp0d=0 vgrp1e=0 vgrp1d=1}\n");
  EXPECT_NE(Decode({"gich-hcr", "100000000"}).err.find("gich-hcr takes one 32-bit word"),
            std::string::npos);
}

TEST(Decode, IchLrChoosesViewByHwBit) {
  // Pending Group 1 SPI 32 with EOI, HW = 0 (bit 61 clear): the virtual view.
  const DecodeResult v = Decode({"ich-lr", "0x50a0020000000020"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out, "IchLrVirtual{vintid=0x20 eoi=1 priority=0xa0 nmi=0 group=1 hw=0 state=0x1}\n");
  EXPECT_EQ(v.err, "");
  // Active hardware-backed PPI 27 -> pINTID 27, HW = 1: the hardware view.
  const DecodeResult h = Decode({"ich-lr", "b0a0001b0000001b"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_EQ(h.out,
            "IchLrHardware{vintid=0x1b pintid=0x1b priority=0xa0 nmi=0 group=1 hw=1 state=0x2}\n");
  // Bit 40 is RES0 when HW = 0.
  EXPECT_EQ(Decode({"ich-lr", "0x50a0030000000020"}).out,
            "IchLrVirtual{vintid=0x20 rsvd[40:32]=0x100! eoi=1 priority=0xa0 nmi=0 group=1 hw=0 "
            "state=0x1}\nwarning: non-zero reserved bits (marked !)\n");
}

TEST(Decode, IchControlRegisters) {
  // En | UIE | LRENPIE | NPIE | TDIR (bit 14) | EOIcount 5 (31:27).
  EXPECT_EQ(Decode({"ich-hcr", "0x2800400f"}).out,
            "IchHcr{en=1 uie=1 lrenpie=1 npie=1 vgrp0eie=0 vgrp0die=0 vgrp1eie=0 vgrp1die=0 "
            "vsgieoicount=0 tc=0 tall0=0 tall1=0 tsei=0 tdir=1 dvim=0 eoicount=0x5}\n");
  // EOI (bit 0) | NP (bit 3) | VGrp1D (bit 7).
  EXPECT_EQ(Decode({"ich-misr", "0x89"}).out,
            "IchMisr{eoi=1 u=0 lrenp=0 np=1 vgrp0e=0 vgrp0d=0 vgrp1e=0 vgrp1d=1}\n");
  // VPMR 0xf0 | VBPR0 2 | VBPR1 3 | VEOIM | VFIQEn | VENG1.
  EXPECT_EQ(Decode({"ich-vmcr", "0xf04c020a"}).out,
            "IchVmcr{veng0=0 veng1=1 vackctl=0 vfiqen=1 vcbpr=0 veoim=1 vbpr1=0x3 vbpr0=0x2 "
            "vpmr=0xf0}\n");
  // A stray bit 8 in MISR is RES0.
  EXPECT_EQ(Decode({"ich-misr", "0x100"}).out,
            "IchMisr{eoi=0 u=0 lrenp=0 np=0 vgrp0e=0 vgrp0d=0 vgrp1e=0 vgrp1d=0 "
            "rsvd[63:8]=0x1!}\nwarning: non-zero reserved bits (marked !)\n");
}

TEST(Decode, IchVtrPrintsCounts) {
  // PRIbits 4 | PREbits 4 | TDS | ListRegs 3: 4 LRs, 1 APR per group.
  const DecodeResult r = Decode({"ich-vtr", "0x90080003"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "IchVtr{list_regs=0x3 dvim=0 tds=1 nv4=0 a3v=0 seis=0 id_bits=0x0 pre_bits=0x4 "
            "pri_bits=0x4}\nlist_registers=4 apr_registers=1\n");
  // PRIbits 6 | PREbits 6 | ListRegs 0x1f: bit 4 of ListRegs is ignored -> 16 LRs, 4 APRs.
  EXPECT_EQ(Decode({"ich-vtr", "0xd800001f"}).out,
            "IchVtr{list_regs=0x1f dvim=0 tds=0 nv4=0 a3v=0 seis=0 id_bits=0x0 pre_bits=0x6 "
            "pri_bits=0x6}\nlist_registers=16 apr_registers=4\n");
}

// GICv5 values worked out by hand in tests/hw/gicv5_registers_test.cc.
TEST(Decode, Gicv5Kinds) {
  // SPI 37: TYPE 3 << 29 | 0x25.
  const DecodeResult intid = Decode({"gicv5-intid", "0x60000025"});
  EXPECT_EQ(intid.exit_code, 0);
  EXPECT_EQ(intid.out, "Gicv5Intid{id=0x25 type=0x3}\n");
  EXPECT_EQ(intid.err, "");
  // Bit 24 lies in the reserved range 28:24.
  EXPECT_EQ(Decode({"gicv5-intid", "61000025"}).out,
            "Gicv5Intid{id=0x25 rsvd[28:24]=0x1! type=0x3}\n"
            "warning: non-zero reserved bits (marked !)\n");
  // Pending | Active | HM, priority 0x1f (15:11), IAFFID 0x1234 (47:32).
  EXPECT_EQ(Decode({"icc-icsr", "0x000012340000f834"}).out,
            "IccIcsr{f=0 enabled=0 pending=1 irm=0 active=1 hm=1 priority=0x1f iaffid=0x1234}\n");
  // F alone: the query was invalid.
  EXPECT_EQ(Decode({"icc-icsr", "1"}).out,
            "IccIcsr{f=1 enabled=0 pending=0 irm=0 active=0 hm=0 priority=0x0 iaffid=0x0}\n"
            "note: F is set: the query was invalid, the other fields mean nothing\n");
  // V | DB | DBPM 0x10 (59:55) | VPE 3 (47:32) | VM 5.
  EXPECT_EQ(Decode({"ich-contextr", "0x9800000300000005"}).out,
            "IchContextr{vm=0x5 vpe=0x3 dbpm=0x10 db=1 irichppidis=0 f=0 v=1}\n");
  // VPMR 0x18 (31:27) | EN.
  EXPECT_EQ(Decode({"ich-vmcr-v5", "0xc0000001"}).out, "IchVmcrV5{en=1 vpmr=0x18}\n");
  // A GICv3 VMCR read through the GICv5 view: bits 26:1 are RES0 there.
  EXPECT_EQ(Decode({"ich-vmcr-v5", "0xf04c020a"}).out,
            "IchVmcrV5{en=0 rsvd[26:1]=0x260105! vpmr=0x1e}\n"
            "warning: non-zero reserved bits (marked !)\n");
  // SPI 37 of VM 5, set pending (bit 63).
  EXPECT_EQ(Decode({"gic-vdpend", "0x8000000560000025"}).out,
            "GicVdpendOperand{id=0x25 type=0x3 vm=0x5 pending=1}\n");
  EXPECT_EQ(Decode({"gic-vdrcfg", "0x0000000560000025"}).out,
            "GicVdrcfgOperand{id=0x25 type=0x3 vm=0x5}\n");
  // VDRCFG has no PENDING bit: bit 63 is bit 15 of its RES0 range 63:48.
  EXPECT_EQ(Decode({"gic-vdrcfg", "0x8000000560000025"}).out,
            "GicVdrcfgOperand{id=0x25 type=0x3 vm=0x5 rsvd[63:48]=0x8000!}\n"
            "warning: non-zero reserved bits (marked !)\n");
}

TEST(Decode, BadInputExitsTwoWithUsage) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate", "0"},
           {"irte32", "0xzz"},
           {"irte32", ""},
           {"irte32", "0x"},
           {"irte32", "1ffffffff"},          // wider than 32 bits
           {"irte-ga", "1"},                 // missing HI
           {"ga-log", "11112222333344445"},  // 17 hex digits
           {"pi-desc", "1", "2"},
           {"ich-lr"},
           {"ich-lr", "1", "2"},
           {"ich-hcr"},
           {"ich-hcr", "1", "2"},
           {"ich-misr"},
           {"ich-misr", "1", "2"},
           {"ich-vmcr"},
           {"ich-vmcr", "1", "2"},
           {"ich-vtr"},
           {"ich-vtr", "1", "2"},
           {"ich-lr", "0xg"},
           {"gich-lr"},
           {"gich-lr", "1", "2"},
           {"gich-lr", "100000000"},  // GICH registers are 32 bits
           {"gich-hcr"},
           {"gich-hcr", "100000000"},
           {"gich-misr"},
           {"gich-misr", "1", "2"},
           {"gicv5-intid"},
           {"gicv5-intid", "1", "2"},
           {"gicv5-intid", "100000000"},  // wider than 32 bits
           {"icc-icsr"},
           {"icc-icsr", "1", "2"},
           {"ich-contextr"},
           {"ich-contextr", "1", "2"},
           {"ich-vmcr-v5"},
           {"ich-vmcr-v5", "1", "2"},
           {"gic-vdpend"},
           {"gic-vdpend", "1", "2"},
           {"gic-vdrcfg"},
           {"gic-vdrcfg", "1", "2"},
           {"gic-vdrcfg", "0xzz"},
       }) {
    const DecodeResult r = Decode(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "(no args)" : args[0]);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("usage: decode"), std::string::npos);
  }
  EXPECT_NE(Decode({"frobnicate"}).err.find("unknown kind 'frobnicate'"), std::string::npos);
  EXPECT_NE(Decode({"irte32", "0xzz"}).err.find("malformed hex word '0xzz'"), std::string::npos);
  EXPECT_NE(Decode({"ich-lr", "1", "2"}).err.find("ich-lr takes one 64-bit word"),
            std::string::npos);
  EXPECT_NE(Decode({"ich-vtr"}).err.find("ich-vtr takes one 64-bit word"), std::string::npos);
  EXPECT_NE(Decode({"gicv5-intid", "100000000"}).err.find("gicv5-intid takes one 32-bit word"),
            std::string::npos);
  EXPECT_NE(Decode({"gic-vdpend"}).err.find("gic-vdpend takes one 64-bit word"), std::string::npos);
  // The usage text lists the GICv2, GICv3 and GICv5 kinds.
  const std::string usage = Decode({}).err;
  for (const char* kind : {"gich-lr V", "gich-hcr V", "gich-misr V", "ich-lr V", "ich-hcr V",
                           "ich-misr V", "ich-vmcr V", "ich-vtr V", "gicv5-intid V", "icc-icsr V",
                           "ich-contextr V", "ich-vmcr-v5 V", "gic-vdpend V", "gic-vdrcfg V"}) {
    EXPECT_NE(usage.find(kind), std::string::npos) << kind;
  }
}

}  // namespace
}  // namespace irqvirt::tools
