// SPDX-License-Identifier: MIT
#include "irqvirt/nospec.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace irqvirt {
namespace {

TEST(IndexNoSpecTest, AnIndexBelowTheSizeIsKept) {
  for (uint32_t size : {1u, 2u, 24u, 988u, 1020u, 65536u}) {
    for (uint32_t i = 0; i < size; i += (size > 100 ? 7 : 1)) {
      EXPECT_EQ(IndexNoSpec(i, size), i) << size;
    }
    EXPECT_EQ(IndexNoSpec(size - 1, size), size - 1);
  }
}

TEST(IndexNoSpecTest, AnIndexAtOrAboveTheSizeBecomesZero) {
  EXPECT_EQ(IndexNoSpec(24u, 24u), 0u);
  EXPECT_EQ(IndexNoSpec(25u, 24u), 0u);
  EXPECT_EQ(IndexNoSpec(0u, 0u), 0u);
  EXPECT_EQ(IndexNoSpec(std::numeric_limits<uint32_t>::max(), 24u), 0u);
  EXPECT_EQ(IndexNoSpec(uint64_t{1} << 62, uint64_t{1} << 20), 0u);
  EXPECT_EQ(IndexNoSpec(uint8_t{255}, 16u), 0u);
  EXPECT_EQ(IndexNoSpec(uint16_t{0x1000}, 0x1000u), 0u);
}

TEST(IndexNoSpecTest, TheMaskIsAllOnesOrZero) {
  EXPECT_EQ(IndexMaskNoSpec(3, 4), ~uint64_t{0});
  EXPECT_EQ(IndexMaskNoSpec(4, 4), 0u);
  EXPECT_EQ(IndexMaskNoSpec(5, 4), 0u);
}

}  // namespace
}  // namespace irqvirt
