// SPDX-License-Identifier: MIT
// The register facility itself: field access, checked setters, reserved bits, layout checks and
// the generic formatter, on small registers defined here.
#include "hw/reg/register.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <type_traits>

#include "hw/reg/format.h"

namespace {

class Demo32 : public hw::reg::Register<Demo32, 32> {
 public:
  IRQVIRT_REGISTER("Demo32");
  IRQVIRT_FIELD(0, 0, enable);
  IRQVIRT_FIELD(7, 4, mode);
  IRQVIRT_RESERVED(3, 1);
  IRQVIRT_FIELD(31, 8, payload);
};

class Demo128 : public hw::reg::Register<Demo128, 128> {
 public:
  IRQVIRT_REGISTER("Demo128");
  IRQVIRT_FIELD(63, 0, low);
  IRQVIRT_FIELD(71, 64, byte8);
  IRQVIRT_RESERVED(119, 72);
  IRQVIRT_FIELD(127, 120, top);
};

class Overlapping : public hw::reg::Register<Overlapping, 32> {
 public:
  IRQVIRT_REGISTER("Overlapping");
  IRQVIRT_FIELD(7, 0, a);
  IRQVIRT_FIELD(8, 7, b);
  IRQVIRT_FIELD(31, 9, c);
};

class Gappy : public hw::reg::Register<Gappy, 32> {
 public:
  IRQVIRT_REGISTER("Gappy");
  IRQVIRT_FIELD(7, 0, a);
};

static_assert(std::is_trivially_copyable_v<Demo32>);
static_assert(std::is_trivially_copyable_v<Demo128>);
static_assert(sizeof(Demo128) == 16);
static_assert(hw::reg::LayoutIsComplete<Demo32>());
static_assert(hw::reg::LayoutIsComplete<Demo128>());
static_assert(!hw::reg::LayoutIsComplete<Overlapping>());
static_assert(!hw::reg::LayoutIsComplete<Gappy>());
static_assert(hw::reg::FieldCount<Demo32>() == 4);
// constexpr encode/decode.
static_assert(Demo32().set_mode(0xa).raw() == 0xa0);
static_assert(Demo32::FromRaw(0x12345601).payload() == 0x123456);

TEST(Register, FieldsEncodeAtTheirBitPositions) {
  Demo32 r;
  r.set_enable(1).set_mode(0x5).set_payload(0xabcdef);
  // enable bit 0, mode 0x5 << 4 = 0x50, payload 0xabcdef << 8.
  EXPECT_EQ(r.raw(), 0xabcdef51u);
  EXPECT_EQ(r.enable(), 1u);
  EXPECT_EQ(r.mode(), 0x5u);
  EXPECT_EQ(r.payload(), 0xabcdefu);
}

TEST(Register, SetterLeavesNeighboursAlone) {
  Demo32 r = Demo32::FromRaw(0xffffffff);
  r.set_mode(0);
  EXPECT_EQ(r.raw(), 0xffffff0fu);
}

TEST(Register, CheckedSetterRefusesWideValuesAndKeepsValue) {
  Demo32 r;
  r.set_mode(3);
  absl::Status s = r.try_set_mode(0x10);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Demo32.mode: value 0x10 does not fit in 4 bits");
  EXPECT_EQ(r.mode(), 3u);
  EXPECT_TRUE(r.try_set_mode(0xf).ok());
  EXPECT_EQ(r.mode(), 0xfu);
}

TEST(RegisterDeathTest, DebugCheckCatchesWideValue) {
#ifdef NDEBUG
  GTEST_SKIP() << "the debug check is compiled out with NDEBUG; release builds truncate";
#else
  Demo32 r;
  EXPECT_DEATH(r.set_mode(0x1f), "Demo32.mode: value 0x1f does not fit in 4 bits");
#endif
}

TEST(Register, ReservedBitsAreDetectedPerWord) {
  EXPECT_FALSE(Demo32::FromRaw(0xfffffff1).has_reserved_bits_set());
  Demo32 bad = Demo32::FromRaw(0x4);  // bit 2 lies in rsvd 3:1
  EXPECT_TRUE(bad.has_reserved_bits_set());
  EXPECT_EQ(bad.reserved_bits_set(0), 0x4u);
  EXPECT_EQ(Demo128::ReservedMask(0), 0u);
  EXPECT_EQ(Demo128::ReservedMask(1), 0x00ffffffffffff00u);
}

TEST(Register, HalvesOf128BitEntries) {
  Demo128 e;
  e.set_low(0x1122334455667788).set_byte8(0x99).set_top(0xaa);
  EXPECT_EQ(e.lo(), 0x1122334455667788u);
  EXPECT_EQ(e.hi(), 0xaa00000000000099u);
  Demo128 back = Demo128::FromHalves(e.lo(), e.hi());
  EXPECT_EQ(back, e);
  EXPECT_EQ(back.top(), 0xaau);
}

TEST(Register, FormatterPrintsEveryFieldByName) {
  Demo32 r = Demo32::FromRaw(0x00012351);
  EXPECT_EQ(fmt::format("{}", r), "Demo32{enable=1 mode=0x5 payload=0x123}");
  Demo32 bad = Demo32::FromRaw(0x0000000e);
  EXPECT_EQ(fmt::format("{}", bad), "Demo32{enable=0 mode=0x0 rsvd[3:1]=0x7! payload=0x0}");
}

}  // namespace
