// hw::MmioRegion's default 32-bit accesses, for windows of 64-bit registers: a word is the half
// of the aligned doubleword that holds it.
#include "hw/mmio_region.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace hw {
namespace {

class TwoDoublewords : public MmioRegion {
 public:
  uint64_t Read64(uint32_t offset) override { return regs.at(offset / 8); }
  void Write64(uint32_t offset, uint64_t value) override { regs.at(offset / 8) = value; }
  std::array<uint64_t, 2> regs{0x1111111122222222u, 0x3333333344444444u};
};

TEST(MmioRegion, DefaultWordAccessesUseTheHalfOfTheAlignedDoubleword) {
  TwoDoublewords r;
  EXPECT_EQ(r.Read32(0), 0x22222222u);
  EXPECT_EQ(r.Read32(4), 0x11111111u);
  EXPECT_EQ(r.Read32(12), 0x33333333u);
  r.Write32(4, 0xaaaaaaaau);
  EXPECT_EQ(r.regs[0], 0xaaaaaaaa22222222u) << "the low half is kept";
  r.Write32(8, 0xbbbbbbbbu);
  EXPECT_EQ(r.regs[1], 0x33333333bbbbbbbbu) << "the high half is kept";
}

}  // namespace
}  // namespace hw
