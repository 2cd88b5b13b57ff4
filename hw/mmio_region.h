// SPDX-License-Identifier: MIT
// A device's MMIO register window as the embedder maps it. Backends do every register access
// through this interface (64-bit, at a byte offset), so the same driver code runs against real
// hardware (the embedder's mapping, with its barriers) and against a fake device that acts on the
// writes.
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
  // Aligned dword accesses, for 32-bit registers (VT-d GCMD/GSTS/FSTS/ICS, GICv2 GICH_*), which
  // software must not touch with a wider access.
  virtual uint32_t Read32(uint32_t offset) = 0;
  virtual void Write32(uint32_t offset, uint32_t value) = 0;
};

}  // namespace hw

#endif  // IRQVIRT_HW_MMIO_REGION_H_
