// SPDX-License-Identifier: MIT
#include "tests/common/allocation_counter.h"

#include <cstdlib>
#include <new>

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace irqvirt::testing {

size_t CountAllocations(const std::function<void()>& fn) {
  allocations = 0;
  counting = true;
  fn();
  counting = false;
  return allocations;
}

}  // namespace irqvirt::testing

namespace irqvirt::testing {

bool CounterSeesAllocations() {
  static int* volatile sink;  // volatile: the compiler may not elide the allocation
  return CountAllocations([] {
           sink = new int(1);
           delete sink;
         }) >= 1;
}

}  // namespace irqvirt::testing
