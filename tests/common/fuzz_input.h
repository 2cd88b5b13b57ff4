// SPDX-License-Identifier: MIT
// Reads a fuzz input as a little-endian byte stream; past its end every read is 0, so a
// truncated input is a valid (shorter) sequence of operations.
#ifndef IRQVIRT_TESTS_COMMON_FUZZ_INPUT_H_
#define IRQVIRT_TESTS_COMMON_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>

namespace irqvirt::testing {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t Word() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{Byte()} << (8 * i);
    return v;
  }
  uint64_t Quad() {
    const uint64_t lo = Word();
    return lo | (uint64_t{Word()} << 32);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace irqvirt::testing

#endif  // IRQVIRT_TESTS_COMMON_FUZZ_INPUT_H_
