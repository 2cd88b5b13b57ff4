// SPDX-License-Identifier: MIT
// Memory a device reads and writes by physical address (DMA): interrupt remapping tables, command
// buffers, logs, completion semaphores, vAPIC backing pages. The embedder supplies it (pinned,
// physically contiguous, cache-coherent with the device); the fakes supply an in-memory version
// whose "physical" addresses the fake devices translate.
#ifndef IRQVIRT_HW_DMA_MEMORY_H_
#define IRQVIRT_HW_DMA_MEMORY_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace hw {

struct DmaBuffer {
  void* va = nullptr;  // CPU view
  uint64_t pa = 0;     // device view
  size_t bytes = 0;
};

class DmaMemory {
 public:
  virtual ~DmaMemory() = default;
  // Zeroed, physically contiguous, `alignment`-aligned in both views (a power of two).
  virtual absl::StatusOr<DmaBuffer> Allocate(size_t bytes, size_t alignment) = 0;
  virtual void Free(const DmaBuffer& buffer) = 0;
};

}  // namespace hw

#endif  // IRQVIRT_HW_DMA_MEMORY_H_
