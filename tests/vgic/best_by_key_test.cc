// SPDX-License-Identifier: MIT
#include "irqvirt/vgic/best_by_key.h"

#include <gtest/gtest.h>

namespace irqvirt::vgic {
namespace {

TEST(BestByKey, KeepsTheLowestKeysInOrderAndEarlierOnTies) {
  int items[8];
  BestByKey<int, 4> best(3);
  const uint64_t keys[] = {50, 10, 40, 10, 60, 5, 40, 70};
  for (int i = 0; i < 8; ++i) best.Offer(keys[i], &items[i]);
  ASSERT_EQ(best.size(), 3);
  EXPECT_EQ(&best[0], &items[5]);  // 5
  EXPECT_EQ(&best[1], &items[1]);  // 10, offered first
  EXPECT_EQ(&best[2], &items[3]);  // 10
}

TEST(BestByKey, FewerOffersThanTheLimitAndALimitOfZero) {
  int items[2];
  BestByKey<int, 4> best(4);
  best.Offer(9, &items[0]);
  best.Offer(3, &items[1]);
  ASSERT_EQ(best.size(), 2);
  EXPECT_EQ(&best[0], &items[1]);
  BestByKey<int, 4> none(0);
  none.Offer(1, &items[0]);
  EXPECT_EQ(none.size(), 0);
}

}  // namespace
}  // namespace irqvirt::vgic
