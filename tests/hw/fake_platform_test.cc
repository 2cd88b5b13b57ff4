// SPDX-License-Identifier: MIT
// The fake platforms' interrupt vector table, as the wakeup queues and the posted router rely on
// it: a registration that is refused (the vector is taken) leaves the live handler and its
// context untouched (issue 14, story 6: the refused one used to overwrite the context first, so
// a later interrupt called the live handler with the refused caller's, soon freed, context).
#include <gtest/gtest.h>

#include <cstdint>

#include "hw/fake/logical_platform.h"
#include "hw/fake/threaded_platform.h"

namespace hw::fake {
namespace {

constexpr uint8_t kVector = 0xf3;

struct Seen {
  void* context = nullptr;
  int calls = 0;
};
Seen seen;

void Record(void* context, int, uint8_t) {
  seen.context = context;
  ++seen.calls;
}
void Other(void*, int, uint8_t) { ADD_FAILURE() << "the refused handler ran"; }

TEST(FakeVectorTable, LogicalPlatformRefusedRegistrationKeepsTheLiveContext) {
  seen = {};
  LogicalPlatform p(1);
  int live = 0, refused = 0;
  ASSERT_TRUE(p.RegisterVectorHandler(kVector, &Record, &live).ok());
  EXPECT_EQ(p.RegisterVectorHandler(kVector, &Other, &refused).code(),
            absl::StatusCode::kAlreadyExists);
  p.RaiseInterrupt(0, kVector);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.context, &live) << "the refused registration replaced the live context";
  p.UnregisterVectorHandler(kVector);
}

TEST(FakeVectorTable, ThreadedPlatformRefusedRegistrationKeepsTheLiveContext) {
  seen = {};
  ThreadedPlatform p(1, [](void*, uint32_t) {}, nullptr);
  p.BindCurrentThread(0);
  int live = 0, refused = 0;
  ASSERT_TRUE(p.RegisterVectorHandler(kVector, &Record, &live).ok());
  EXPECT_EQ(p.RegisterVectorHandler(kVector, &Other, &refused).code(),
            absl::StatusCode::kAlreadyExists);
  p.RaiseInterrupt(0, kVector);
  p.PollInterrupts();
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.context, &live) << "the refused registration replaced the live context";
  p.UnregisterVectorHandler(kVector);
}

}  // namespace
}  // namespace hw::fake
