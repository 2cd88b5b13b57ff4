// SPDX-License-Identifier: MIT
// Checks a system-register / system-instruction encoding field by field, so that a failure
// names the field that is wrong.
#ifndef IRQVIRT_TESTS_HW_EXPECT_ENCODING_H_
#define IRQVIRT_TESTS_HW_EXPECT_ENCODING_H_

#include <gtest/gtest.h>

#include "hw/arm/sysreg.h"

namespace hw::arm::testing {

inline void ExpectEncoding(SysRegEncoding e, int op0, int op1, int crn, int crm, int op2) {
  EXPECT_EQ(e.op0, op0);
  EXPECT_EQ(e.op1, op1);
  EXPECT_EQ(e.crn, crn);
  EXPECT_EQ(e.crm, crm);
  EXPECT_EQ(e.op2, op2);
}

}  // namespace hw::arm::testing

#endif  // IRQVIRT_TESTS_HW_EXPECT_ENCODING_H_
