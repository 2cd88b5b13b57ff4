// SPDX-License-Identifier: MIT
// Runs the I/O APIC fuzz target over the checked-in corpus and over seeded random inputs, for a
// bounded number of inputs (CI). Any invariant violation aborts with a message.
#include "tests/common/fuzz_corpus.h"

#include <gtest/gtest.h>

namespace {

TEST(IoapicFuzzCorpus, EveryCorpusInputKeepsTheInvariants) {
  EXPECT_GE(irqvirt::testing::RunFuzzCorpus("tests/ioapic/fuzz_corpus"), 5)
      << "corpus missing from runfiles";
}

TEST(IoapicFuzzCorpus, SeededRandomInputsKeepTheInvariants) {
  irqvirt::testing::RunSeededRandomFuzzInputs(/*default_seed=*/5, /*count=*/1500, /*min_size=*/64,
                                              /*spread=*/448);
}

}  // namespace
