// SPDX-License-Identifier: MIT
// Independent, seeded random streams: one per traffic source, so that what one source draws
// never depends on what the host did (a baseline run then sees exactly the same traffic).
#ifndef IRQVIRT_EXAMPLES_HOST_SIM_RANDOM_STREAMS_H_
#define IRQVIRT_EXAMPLES_HOST_SIM_RANDOM_STREAMS_H_

#include <cmath>
#include <cstdint>
#include <random>

#include "examples/host_sim/cost_model.h"

namespace host_sim {

inline std::mt19937_64 RandomStream(uint64_t seed, uint64_t domain, uint64_t id) {
  std::seed_seq seq{seed, domain, id};
  return std::mt19937_64(seq);
}

// The gap to the next event of a Poisson process of `per_ms` events per simulated millisecond
// (at least 1 ns; practically never for a rate of 0).
inline cost::Ns Exponential(std::mt19937_64& rng, double per_ms) {
  if (per_ms <= 0) return INT64_MAX / 4;
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  return static_cast<cost::Ns>(-std::log(1.0 - u) / per_ms * 1e6) + 1;
}

}  // namespace host_sim

#endif  // IRQVIRT_EXAMPLES_HOST_SIM_RANDOM_STREAMS_H_
