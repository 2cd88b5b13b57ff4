// SPDX-License-Identifier: MIT
// Seeds for randomized tests: taken from an environment variable when set (to reproduce a
// failure), a fixed default otherwise, so CI runs are deterministic.
#ifndef IRQVIRT_TESTS_COMMON_SEED_H_
#define IRQVIRT_TESTS_COMMON_SEED_H_

#include <cstdint>
#include <cstdlib>

namespace irqvirt::testing {

inline uint64_t SeedFromEnv(const char* variable, uint64_t fallback) {
  const char* s = std::getenv(variable);
  return s != nullptr ? std::strtoull(s, nullptr, 0) : fallback;
}

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_COMMON_SEED_H_
