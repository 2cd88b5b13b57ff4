// A device's MMIO register window as the embedder maps it. Backends do every register access
// through this interface (at a byte offset), so the same driver code runs against real hardware
// (the embedder's mapping, with its barriers) and against a fake device that acts on the writes.
#ifndef IRQVIRT_HW_MMIO_REGION_H_
#define IRQVIRT_HW_MMIO_REGION_H_

#include <cstdint>

namespace hw {

class MmioRegion {
 public:
  virtual ~MmioRegion() = default;
  // Ordered, uncached accesses: a write is visible to the device before the next access returns.
  virtual uint64_t Read64(uint32_t offset) = 0;
  virtual void Write64(uint32_t offset, uint64_t value) = 0;
  // 32-bit accesses, for devices whose registers are words (the GICv2 GICH window), which must
  // override both. The defaults serve windows of 64-bit registers: they read the aligned
  // doubleword that holds the word, and write by read-modify-write of it.
  virtual uint32_t Read32(uint32_t offset) {
    return static_cast<uint32_t>(Read64(offset & ~7u) >> (8 * (offset & 4u)));
  }
  virtual void Write32(uint32_t offset, uint32_t value) {
    const int shift = static_cast<int>(8 * (offset & 4u));
    const uint64_t old = Read64(offset & ~7u);
    Write64(offset & ~7u, (old & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift));
  }
};

}  // namespace hw

#endif  // IRQVIRT_HW_MMIO_REGION_H_
