// SPDX-License-Identifier: MIT
// The fake local APICs play the hardware's priority rules (Intel SDM vol. 3 §11.8.3.1-§11.8.5,
// AMD APM vol. 2 §16.6): TPR masking, ISR nesting, EOI of the highest in-service vector, and the
// guest model that runs nested handlers. Asserted on what a guest would see.
#include "hw/fake/fake_lapics.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"

namespace hw::fake {
namespace {

TEST(FakeLapicsPriority, TprMasksItsClassAndBelow) {
  FakeLapics lapics(1);
  lapics.set_tpr(0, 0x50);
  EXPECT_EQ(lapics.ppr(0), 0x50);
  lapics.RaiseDirect(0, 0x5f);  // class 5: not above TPR's class, whatever the sub-class
  EXPECT_EQ(lapics.Acknowledge(0), -1);
  EXPECT_TRUE(lapics.irr(0, 0x5f)) << "masked, still pending";
  lapics.RaiseDirect(0, 0x61);
  EXPECT_EQ(lapics.Acknowledge(0), 0x61) << "class 6 is above TPR";
  lapics.Eoi(0);
  EXPECT_EQ(lapics.Acknowledge(0), -1);
  lapics.set_tpr(0, 0x4f);  // the guest lowers TPR: class 5 gets through
  EXPECT_EQ(lapics.Acknowledge(0), 0x5f);
}

TEST(FakeLapicsPriority, HigherClassNestsSameOrLowerClassWaits) {
  FakeLapics lapics(1);
  lapics.RaiseDirect(0, 0x40);
  ASSERT_EQ(lapics.Acknowledge(0), 0x40);
  EXPECT_EQ(lapics.ppr(0), 0x40) << "the in-service class raises PPR above TPR 0";
  lapics.RaiseDirect(0, 0x4f);  // same class as the one in service
  lapics.RaiseDirect(0, 0x3a);  // lower class
  EXPECT_EQ(lapics.Acknowledge(0), -1);
  lapics.RaiseDirect(0, 0x90);
  EXPECT_EQ(lapics.Acknowledge(0), 0x90) << "a higher class nests";
  EXPECT_TRUE(lapics.isr(0, 0x40));
  EXPECT_TRUE(lapics.isr(0, 0x90));
  EXPECT_EQ(lapics.ppr(0), 0x90);
}

TEST(FakeLapicsPriority, EoiRetiresTheHighestInServiceThenLowerClassesFollow) {
  FakeLapics lapics(1);
  std::vector<int> eois;
  lapics.set_eoi_listener([&](int, uint8_t vector, bool) { eois.push_back(vector); });
  lapics.RaiseDirect(0, 0x40);
  ASSERT_EQ(lapics.Acknowledge(0), 0x40);
  lapics.RaiseDirect(0, 0x90);
  ASSERT_EQ(lapics.Acknowledge(0), 0x90);
  lapics.RaiseDirect(0, 0x60);  // above 0x40's class, below 0x90's
  lapics.RaiseDirect(0, 0x30);  // below both
  EXPECT_EQ(lapics.Acknowledge(0), -1);
  EXPECT_EQ(lapics.Eoi(0), 0x90) << "the EOI retires the nested (highest) vector";
  EXPECT_TRUE(lapics.isr(0, 0x40));
  EXPECT_EQ(lapics.ppr(0), 0x40);
  EXPECT_EQ(lapics.Acknowledge(0), 0x60) << "now above PPR: nests over 0x40";
  EXPECT_EQ(lapics.Eoi(0), 0x60);
  EXPECT_EQ(lapics.Acknowledge(0), -1) << "0x30 still below 0x40 in service";
  EXPECT_EQ(lapics.Eoi(0), 0x40);
  EXPECT_EQ(lapics.ppr(0), 0x00);
  EXPECT_EQ(lapics.Acknowledge(0), 0x30) << "the lower class after the higher one's EOI";
  EXPECT_EQ(lapics.Eoi(0), 0x30);
  EXPECT_EQ(eois, (std::vector<int>{0x90, 0x60, 0x40, 0x30}));
}

// A handler that re-enables interrupts takes only higher classes; the rest run after its EOI.
TEST(FakeLapicsGuest, NestedHandlersRunInPriorityOrderWithoutHandSequencing) {
  FakeLapics lapics(1);
  std::vector<std::string> log;
  lapics.set_eoi_listener(
      [&](int, uint8_t vector, bool) { log.push_back(absl::StrFormat("eoi %#x", vector)); });
  std::function<void(int, uint8_t)> handler = [&](int vcpu, uint8_t vector) {
    log.push_back(absl::StrFormat("enter %#x", vector));
    if (vector == 0x40) {
      lapics.RaiseDirect(vcpu, 0x41);  // same class: waits for 0x40's EOI
      lapics.RaiseDirect(vcpu, 0x90);  // higher class: nests once interrupts are enabled
      lapics.RunGuest(vcpu, handler);  // sti inside the handler
    }
  };
  lapics.RaiseDirect(0, 0x40);
  EXPECT_EQ(lapics.RunGuest(0, handler), 2) << "0x40 and 0x41 at the outer level";
  EXPECT_EQ(log, (std::vector<std::string>{"enter 0x40", "enter 0x90", "eoi 0x90", "eoi 0x40",
                                           "enter 0x41", "eoi 0x41"}));
  EXPECT_FALSE(lapics.page(0).Any(x86::ApicVectorReg::kIsr));
  EXPECT_FALSE(lapics.page(0).Any(x86::ApicVectorReg::kIrr));
}

TEST(FakeLapicsGuest, RunGuestRespectsTpr) {
  FakeLapics lapics(1);
  std::vector<int> handled;
  lapics.set_tpr(0, 0x70);
  lapics.RaiseDirect(0, 0x71);
  lapics.RaiseDirect(0, 0x81);
  EXPECT_EQ(lapics.RunGuest(0, [&](int, uint8_t v) { handled.push_back(v); }), 1);
  EXPECT_EQ(handled, std::vector<int>{0x81});
  EXPECT_TRUE(lapics.irr(0, 0x71));
}

}  // namespace
}  // namespace hw::fake
