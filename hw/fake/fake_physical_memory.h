// SPDX-License-Identifier: MIT
// In-memory "physical" memory for fake devices: hw::DmaMemory allocations get made-up physical
// addresses (starting at 4 GiB, so a PA is never mistaken for a small index), and a fake device
// translates a PA back to the host pointer the way a real device's DMA would reach RAM.
// Thread-safe; translations of live buffers never allocate.
#ifndef IRQVIRT_HW_FAKE_FAKE_PHYSICAL_MEMORY_H_
#define IRQVIRT_HW_FAKE_FAKE_PHYSICAL_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>

#include "absl/base/thread_annotations.h"
#include "hw/dma_memory.h"
#include "hw/fake/fake_mutex.h"

namespace hw::fake {

class FakePhysicalMemory : public DmaMemory {
 public:
  FakePhysicalMemory() = default;
  ~FakePhysicalMemory() override;

  absl::StatusOr<DmaBuffer> Allocate(size_t bytes, size_t alignment) override;
  void Free(const DmaBuffer& buffer) override;

  // Host pointer for [pa, pa + bytes), or nullptr when that range is not inside one live buffer
  // (a device DMA to nowhere: the fake devices report it as a fault).
  void* Translate(uint64_t pa, size_t bytes) const;

  size_t live_buffers() const;

 private:
  struct Block {
    void* va;
    size_t bytes;
  };
  mutable FakeMutex mu_;                                   // see fake_mutex.h
  std::map<uint64_t, Block> blocks_ ABSL_GUARDED_BY(mu_);  // by PA
  uint64_t next_pa_ ABSL_GUARDED_BY(mu_) = 1ull << 32;
};

}  // namespace hw::fake

#endif  // IRQVIRT_HW_FAKE_FAKE_PHYSICAL_MEMORY_H_
