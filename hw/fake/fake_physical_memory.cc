// SPDX-License-Identifier: MIT
#include "hw/fake/fake_physical_memory.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"

namespace hw::fake {

FakePhysicalMemory::~FakePhysicalMemory() {
  FakeMutexLock l(mu_);
  for (auto& [pa, block] : blocks_) std::free(block.va);
}

absl::StatusOr<DmaBuffer> FakePhysicalMemory::Allocate(size_t bytes, size_t alignment) {
  if (bytes == 0 || alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("fake memory: bad request of %zu bytes aligned to %zu", bytes, alignment));
  }
  const size_t host_alignment = alignment < 16 ? 16 : alignment;
  const size_t rounded = (bytes + host_alignment - 1) / host_alignment * host_alignment;
  void* va = std::aligned_alloc(host_alignment, rounded);
  if (va == nullptr) return absl::ResourceExhaustedError("fake memory: out of host memory");
  std::memset(va, 0, rounded);
  FakeMutexLock l(mu_);
  const uint64_t pa = (next_pa_ + alignment - 1) & ~(static_cast<uint64_t>(alignment) - 1);
  next_pa_ = pa + rounded + 4096;  // a gap, so an overrun translates to nothing
  blocks_[pa] = Block{va, bytes};
  return DmaBuffer{va, pa, bytes};
}

void FakePhysicalMemory::Free(const DmaBuffer& buffer) {
  FakeMutexLock l(mu_);
  auto it = blocks_.find(buffer.pa);
  if (it == blocks_.end()) return;
  std::free(it->second.va);
  blocks_.erase(it);
}

void* FakePhysicalMemory::Translate(uint64_t pa, size_t bytes) const {
  FakeMutexLock l(mu_);
  auto it = blocks_.upper_bound(pa);
  if (it == blocks_.begin()) return nullptr;
  --it;
  const uint64_t offset = pa - it->first;
  if (offset + bytes > it->second.bytes) return nullptr;
  return static_cast<uint8_t*>(it->second.va) + offset;
}

size_t FakePhysicalMemory::live_buffers() const {
  FakeMutexLock l(mu_);
  return blocks_.size();
}

}  // namespace hw::fake
