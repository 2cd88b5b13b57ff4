// SPDX-License-Identifier: MIT
// Runs the vGIC distributor fuzz target over the checked-in corpus and over seeded random inputs,
// for a bounded number of inputs (CI). Any invariant violation aborts with a message.
#include <gtest/gtest.h>

#include "tests/common/fuzz_corpus.h"

namespace {

TEST(DistributorFuzzCorpus, EveryCorpusInputKeepsTheInvariants) {
  EXPECT_GE(irqvirt::testing::RunFuzzCorpus("tests/vgic/fuzz_corpus"), 5)
      << "corpus missing from runfiles";
}

TEST(DistributorFuzzCorpus, SeededRandomInputsKeepTheInvariants) {
  irqvirt::testing::RunSeededRandomFuzzInputs(/*default_seed=*/5, /*count=*/3000, /*min_size=*/32,
                                              /*spread=*/480);
}

}  // namespace
