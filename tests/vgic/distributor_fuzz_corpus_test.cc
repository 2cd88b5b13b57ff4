// Runs the vGIC distributor fuzz target over the checked-in corpus and over seeded random inputs,
// for a bounded number of inputs (CI). Any invariant violation aborts with a message.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "tests/common/seed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::filesystem::path CorpusDir() {
  const char* src = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (src != nullptr && ws != nullptr) {
    return std::filesystem::path(src) / ws / "tests/vgic/fuzz_corpus";
  }
  return "tests/vgic/fuzz_corpus";
}

TEST(DistributorFuzzCorpus, EveryCorpusInputKeepsTheInvariants) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    ++files;
  }
  EXPECT_GE(files, 5) << "corpus missing from runfiles";
}

TEST(DistributorFuzzCorpus, SeededRandomInputsKeepTheInvariants) {
  std::mt19937_64 rng(irqvirt::testing::SeedFromEnv("IRQVIRT_FUZZ_SEED", 5));
  for (int i = 0; i < 3000; ++i) {
    std::vector<uint8_t> bytes(32 + rng() % 480);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
}

}  // namespace
