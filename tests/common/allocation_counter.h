// SPDX-License-Identifier: MIT
// Counts every operator new made by the calling thread while a measured region runs, to prove a
// hot path allocates nothing. Linking this library replaces the global operator new/delete.
#ifndef IRQVIRT_TESTS_COMMON_ALLOCATION_COUNTER_H_
#define IRQVIRT_TESTS_COMMON_ALLOCATION_COUNTER_H_

#include <cstddef>
#include <functional>

namespace irqvirt::testing {

size_t CountAllocations(const std::function<void()>& fn);

// The instrument works in this binary: a real allocation in a measured region is counted. Each
// test binary asserts it, so a zero elsewhere cannot come from a counter that never counts.
bool CounterSeesAllocations();

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_COMMON_ALLOCATION_COUNTER_H_
