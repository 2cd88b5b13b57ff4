// SPDX-License-Identifier: MIT
// Drives a libFuzzer entry point (LLVMFuzzerTestOneInput, linked in from a fuzz target) in a
// bounded CI test: every file of a checked-in corpus, then seeded random inputs. An invariant
// violation aborts inside the target with its own message.
#ifndef IRQVIRT_TESTS_COMMON_FUZZ_CORPUS_H_
#define IRQVIRT_TESTS_COMMON_FUZZ_CORPUS_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/common/seed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace irqvirt::testing {

// Runs every file of `dir` (relative to the workspace, found through the test's runfiles) and
// returns how many there were.
inline int RunFuzzCorpus(const std::string& dir) {
  const char* src = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  const std::filesystem::path path = src != nullptr && ws != nullptr
                                         ? std::filesystem::path(src) / ws / dir
                                         : std::filesystem::path(dir);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    ++files;
  }
  return files;
}

// Runs `count` random inputs of `min_size` to `min_size + spread - 1` bytes from the seed in
// IRQVIRT_FUZZ_SEED (or `default_seed`).
inline void RunSeededRandomFuzzInputs(uint64_t default_seed, int count, size_t min_size,
                                      size_t spread) {
  std::mt19937_64 rng(SeedFromEnv("IRQVIRT_FUZZ_SEED", default_seed));
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> bytes(min_size + rng() % spread);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
}

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_COMMON_FUZZ_CORPUS_H_
