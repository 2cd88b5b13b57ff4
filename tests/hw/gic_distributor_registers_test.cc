// SPDX-License-Identifier: MIT
// Golden values for the guest-facing GIC distributor / redistributor layouts and offsets
// (hw/arm/gic_distributor_regs.h), computed by hand from IHI 0048B ch. 4 and IHI 0069 §12.9-12.11
// (as Linux include/linux/irqchip/arm-gic.h and arm-gic-v3.h name the bits).
#include <gtest/gtest.h>

#include <cstdint>

#include "hw/arm/gic_distributor_regs.h"

namespace hw::arm {
namespace {

TEST(GicDistributorOffsets, ArchitecturalOffsets) {
  EXPECT_EQ(kGicdIsenabler, 0x100u);
  EXPECT_EQ(kGicdIpriorityr, 0x400u);
  EXPECT_EQ(kGicdItargetsr, 0x800u);
  EXPECT_EQ(kGicdIcfgr, 0xc00u);
  EXPECT_EQ(kGicdSgir, 0xf00u);
  EXPECT_EQ(kGicdIrouter + 8 * 32, 0x6100u) << "GICD_IROUTER<32>, the first SPI";
  EXPECT_EQ(kGicv3Pidr2, 0xffe8u);
  EXPECT_EQ(kGicrSgiBase + kGicrIsenabler0, 0x10100u);
  EXPECT_EQ(kGicrFrameStride, 0x20000u) << "RD_base + SGI_base, 64 KiB each";
}

TEST(GicdCtlrV3, GoldenValue) {
  GicdCtlrV3 c;
  c.set_enable_grp1(1).set_are(1).set_ds(1).set_rwp(1);
  EXPECT_EQ(c.raw(), 0x80000052u);  // bits 1, 4, 6, 31
}

TEST(GicdTyper, GoldenValue) {
  GicdTyper t;
  t.set_it_lines_number(2).set_cpu_number(3).set_id_bits(9).set_no1n(1).set_rss(1);
  // 2 | 3 << 5 | 9 << 19 | 1 << 25 | 1 << 26
  EXPECT_EQ(t.raw(), 0x06480062u);
}

TEST(GicdSgir, GoldenValue) {
  GicdSgir s;
  s.set_sgi_int_id(5).set_cpu_target_list(0x0a).set_target_list_filter(2);
  EXPECT_EQ(s.raw(), 0x020a0005u);
}

TEST(GicdIrouter, GoldenValue) {
  GicdIrouter r;
  r.set_aff0(3).set_aff1(2).set_aff2(1).set_irm(1).set_aff3(0x7f);
  EXPECT_EQ(r.raw(), 0x0000007f80010203u);
}

TEST(GicrTyper, GoldenValue) {
  GicrTyper t;
  t.set_last(1).set_processor_number(0x12).set_aff0(5).set_aff1(1);
  // Last bit 4 | 0x12 << 8 | Aff0 5 << 32 | Aff1 1 << 40
  EXPECT_EQ(t.raw(), 0x0000010500001210u);
}

TEST(GicrWaker, GoldenValue) {
  GicrWaker w;
  w.set_processor_sleep(1).set_children_asleep(1);
  EXPECT_EQ(w.raw(), 0x6u);
}

TEST(IccSgiR, GoldenValue) {
  IccSgiR s;
  s.set_target_list(0x8001).set_aff1(2).set_intid(7).set_aff2(3).set_irm(1).set_rs(1).set_aff3(4);
  // 0x8001 | 2 << 16 | 7 << 24 | 3 << 32 | 1 << 40 | 1 << 44 | 4 << 48
  EXPECT_EQ(s.raw(), 0x0004110307028001u);
}

TEST(GicPidr2AndIidr, GoldenValue) {
  EXPECT_EQ(GicPidr2().set_des_1(0b011).set_jedec(1).set_arch_rev(3).raw(), 0x3bu);
  EXPECT_EQ(GicIidr().set_implementer(0x43b).set_product_id('I').raw(), 0x4900043bu);
}

}  // namespace
}  // namespace hw::arm
