// SPDX-License-Identifier: MIT
#include "irqvirt/status.h"

#include <type_traits>

#include "gtest/gtest.h"
#include "tests/common/allocation_counter.h"

namespace irqvirt {
namespace {

TEST(HotStatusTest, DefaultIsOkAndNamesNothing) {
  constexpr HotStatus s;
  static_assert(s.ok());
  EXPECT_TRUE(s.ToStatus().ok());
}

TEST(HotStatusTest, AnErrorKeepsItsCodeAndFormatsItsMessageOnlyWhenAsked) {
  const HotStatus s =
      HotStatus::Error(code::kWrongStateOrOrder, "vCPU %lld: Flush twice (%lld LRs)", 3, 4);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  const absl::Status status = s.ToStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "vCPU 3: Flush twice (4 LRs)");
}

TEST(HotStatusTest, BuildingAndCopyingAnErrorAllocatesNothing) {
  ASSERT_TRUE(testing::CounterSeesAllocations());
  static_assert(std::is_trivially_copyable_v<HotStatus>);
  HotStatus copy;
  EXPECT_EQ(testing::CountAllocations([&] {
              copy = HotStatus::Error(code::kIndexOutOfRange, "INTID %lld", 2000);
            }),
            0u);
  EXPECT_EQ(copy.code(), absl::StatusCode::kOutOfRange);
}

TEST(HotStatusTest, TheTableGivesEachKindOfMistakeItsOwnCode) {
  const absl::StatusCode codes[] = {code::kIndexOutOfRange, code::kMalformed,
                                    code::kUnknownObject,    code::kAlreadyThere,
                                    code::kWrongStateOrOrder, code::kFull,
                                    code::kHardwareFailed,    code::kHardwareTimeout};
  for (size_t i = 0; i < std::size(codes); ++i) {
    for (size_t j = i + 1; j < std::size(codes); ++j) EXPECT_NE(codes[i], codes[j]) << i << j;
  }
}

}  // namespace
}  // namespace irqvirt
