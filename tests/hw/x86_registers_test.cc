// SPDX-License-Identifier: MIT
// vAPIC page, Intel PI descriptor and I/O APIC layouts; expected values worked out by hand.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "hw/intel/pi_desc.h"
#include "hw/reg/format.h"
#include "hw/x86/ioapic_regs.h"
#include "hw/x86/vapic_page.h"

namespace hw {
namespace {

struct alignas(4096) Page {
  uint8_t bytes[4096];
};

uint32_t WordAt(const Page& p, uint32_t offset) {
  uint32_t w;
  std::memcpy(&w, p.bytes + offset, 4);
  return w;
}

TEST(VapicPage, VectorPositions) {
  // IRR for vector v: bit v % 32 of the u32 at 0x200 + 0x10 * (v / 32).
  EXPECT_EQ(x86::VectorWordOffset(x86::ApicVectorReg::kIrr, 0x41), 0x220u);
  EXPECT_EQ(x86::VectorBit(0x41), 1u);
  EXPECT_EQ(x86::VectorWordOffset(x86::ApicVectorReg::kIsr, 0xff), 0x170u);
  EXPECT_EQ(x86::VectorWordOffset(x86::ApicVectorReg::kTmr, 0x20), 0x190u);
  EXPECT_EQ(x86::kApicEoiOffset, 0xb0u);
}

TEST(VapicPage, SetTestClearHighest) {
  auto page = std::make_unique<Page>();
  std::memset(page->bytes, 0, sizeof(page->bytes));
  x86::VapicPage v(page->bytes);
  EXPECT_EQ(v.Highest(x86::ApicVectorReg::kIrr), -1);
  EXPECT_FALSE(v.Any(x86::ApicVectorReg::kIrr));
  EXPECT_FALSE(v.Set(x86::ApicVectorReg::kIrr, 0x41));
  EXPECT_TRUE(v.Set(x86::ApicVectorReg::kIrr, 0x41));
  EXPECT_EQ(WordAt(*page, 0x220), 0x2u);
  v.Set(x86::ApicVectorReg::kIrr, 0xef);
  EXPECT_EQ(WordAt(*page, 0x270), 1u << 15);
  EXPECT_EQ(v.Highest(x86::ApicVectorReg::kIrr), 0xef);
  EXPECT_TRUE(v.Test(x86::ApicVectorReg::kIrr, 0x41));
  EXPECT_FALSE(v.Test(x86::ApicVectorReg::kIsr, 0x41));
  EXPECT_TRUE(v.Clear(x86::ApicVectorReg::kIrr, 0xef));
  EXPECT_FALSE(v.Clear(x86::ApicVectorReg::kIrr, 0xef));
  EXPECT_EQ(v.Highest(x86::ApicVectorReg::kIrr), 0x41);
  v.Set(x86::ApicVectorReg::kIsr, 0);
  EXPECT_EQ(WordAt(*page, 0x100), 1u);
  EXPECT_EQ(v.Highest(x86::ApicVectorReg::kIsr), 0);
}

TEST(PiDesc, ControlWordLayout) {
  intel::PiControl c;
  c.set_on(1).set_sn(1).set_nv(0xf2).set_ndst(intel::PiControl::NdstForXapic(0x05));
  // ON bit 0, SN bit 1, NV 0xf2 at 23:16, NDST (xAPIC: 0x05 << 8 = 0x500) at 63:32.
  EXPECT_EQ(c.raw(), 0x0000050000f20003u);
  EXPECT_EQ(c.destination_apic_id(/*x2apic=*/false), 5u);
  EXPECT_EQ(intel::PiControl::NdstForX2apic(0x12345), 0x12345u);
  EXPECT_EQ(fmt::format("{}", c), "PiControl{on=1 sn=1 nv=0xf2 ndst=0x500}");
  EXPECT_TRUE(intel::PiControl::FromRaw(0x4).has_reserved_bits_set());
}

TEST(PiDesc, PirAndControlInMemory) {
  intel::PiDesc d{};
  EXPECT_TRUE(d.PirEmpty());
  EXPECT_FALSE(d.PirSet(0x41));
  EXPECT_TRUE(d.PirTest(0x41));
  EXPECT_EQ(d.pir[2], 0x2u);
  EXPECT_FALSE(d.PirEmpty());
  // Bytes 32..39 hold the control word: ON is absolute bit 256, i.e. byte 32 bit 0.
  intel::PiControl expected = d.LoadControl();
  ASSERT_TRUE(d.CompareExchangeControl(expected, intel::PiControl().set_on(1).set_nv(0xf1)));
  uint8_t bytes[64];
  std::memcpy(bytes, &d, 64);
  EXPECT_EQ(bytes[32], 0x1);
  EXPECT_EQ(bytes[34], 0xf1);
  intel::PiControl stale;  // all zero, no longer current
  EXPECT_FALSE(d.CompareExchangeControl(stale, intel::PiControl()));
  EXPECT_EQ(stale.on(), 1u) << "a failed CAS reports the current value";
}

TEST(IoapicRedirectionEntry, GoldenValue) {
  x86::IoapicRedirectionEntry e;
  e.set_vector(0x31).set_delivery_mode(static_cast<uint64_t>(x86::IoapicDeliveryMode::kLowestPriority));
  e.set_dest_mode(1).set_trigger_mode(1).set_mask(1).set_destination(0x0f);
  // vector 0x31 | DELMOD 1 << 8 | DESTMOD 1 << 11 | TRIGGER 1 << 15 | MASK 1 << 16 | DEST 0x0f << 56.
  EXPECT_EQ(e.raw(), 0x0f00000000018931u);
  EXPECT_EQ(x86::IoapicRedirectionEntry::FromRaw(0x0f00000000018931u), e);
  EXPECT_EQ(x86::IoapicRedirectionEntry().set_remote_irr(1).raw(), 0x4000u);
  EXPECT_EQ(x86::IoapicRedirectionEntry().set_delivery_status(1).raw(), 0x1000u);
  EXPECT_EQ(x86::IoapicRedirectionEntry::kReadOnlyMask, 0x5000u);
  EXPECT_EQ(x86::IoapicRedirectionEntry().set_virt_ext_dest_id(1).raw(), uint64_t{1} << 49);
  EXPECT_TRUE(x86::IoapicRedirectionEntry::FromRaw(uint64_t{1} << 20).has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", e),
            "IoapicRedirectionEntry{vector=0x31 delivery_mode=0x1 dest_mode=1 delivery_status=0 "
            "polarity=0 remote_irr=0 trigger_mode=1 mask=1 virt_ext_dest_id=0x0 "
            "destination=0xf}");
}

TEST(IoapicRegisters, IdVersionArbitration) {
  // 24 pins, version 0x11: (24 - 1) << 16 | 0x11 = 0x00170011 (KVM's value).
  EXPECT_EQ(x86::IoapicVersion().set_version(0x11).set_max_redir_entry(23).raw(), 0x00170011u);
  EXPECT_EQ(x86::IoapicId().set_id(0xa).raw(), 0x0a000000u);
  EXPECT_EQ(x86::IoapicArbitration().set_arbitration_id(0x3).raw(), 0x03000000u);
  EXPECT_EQ(x86::IoapicId::FromRaw(0xff000000).id(), 0xfu);
  EXPECT_TRUE(x86::IoapicId::FromRaw(0xff000000).has_reserved_bits_set());
  EXPECT_EQ(fmt::format("{}", x86::IoapicVersion::FromRaw(0x00178020)),
            "IoapicVersion{version=0x20 prq=1 max_redir_entry=0x17}");
}

}  // namespace
}  // namespace hw
