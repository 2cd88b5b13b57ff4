// SPDX-License-Identifier: MIT
// The image's C++ runtime (see runtime.h). Built with -fno-exceptions -fno-rtti -nostdlib:
// libstdc++ is used for its headers only (std::atomic, std::unique_ptr, std::array), so what its
// inline code calls is defined here, and picolibc's libc.a supplies memcpy, memset, memmove and
// strlen. Nothing here is reached on a hot path.
#include "tools/qemu_gicv3/runtime.h"

#include <cstddef>
#include <cstdio>
#include <new>

#include "absl/status/statusor.h"

extern "C" char __heap_start[];
extern "C" char __heap_end[];

namespace qemu_image {
namespace {

constexpr uint64_t kSysWrite0 = 0x04;
constexpr uint64_t kSysExit = 0x18;
constexpr uint64_t kAdpStoppedApplicationExit = 0x20026;

uint64_t Semihost(uint64_t op, const void* parameter) {
  register uint64_t x0 asm("x0") = op;
  register const void* x1 asm("x1") = parameter;
  asm volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
  return x0;
}

char* heap_next = nullptr;
uint64_t live_blocks = 0;
uint64_t allocations = 0;

void* Allocate(size_t size, size_t alignment) {
  if (heap_next == nullptr) heap_next = __heap_start;
  if (alignment < 16) alignment = 16;
  auto at = reinterpret_cast<uintptr_t>(heap_next);
  at = (at + alignment - 1) & ~(uintptr_t{alignment} - 1);
  if (size > static_cast<size_t>(__heap_end - reinterpret_cast<char*>(at))) {
    Fatal("heap exhausted");
  }
  heap_next = reinterpret_cast<char*>(at + size);
  ++live_blocks;
  ++allocations;
  return reinterpret_cast<void*>(at);
}

void Free(void* p) {
  if (p == nullptr) return;
  if (live_blocks == 0) Fatal("operator delete without a live block");
  if (--live_blocks == 0) heap_next = __heap_start;
}

}  // namespace

void ConsoleWrite(const char* text) { Semihost(kSysWrite0, text); }

void ConsoleLine(const char* label, uint64_t value) {
  char line[96];
  size_t n = 0;
  for (const char* p = "# "; *p != '\0';) line[n++] = *p++;
  for (const char* p = label; *p != '\0' && n < 60;) line[n++] = *p++;
  line[n++] = ' ';
  line[n++] = '0';
  line[n++] = 'x';
  for (int shift = 60; shift >= 0; shift -= 4) line[n++] = "0123456789abcdef"[(value >> shift) & 0xf];
  line[n++] = '\n';
  line[n] = '\0';
  ConsoleWrite(line);
}

void Exit(uint32_t status) {
  const uint64_t block[2] = {kAdpStoppedApplicationExit, status};
  Semihost(kSysExit, block);
  for (;;) asm volatile("wfi");
}

void Fatal(const char* what) {
  ConsoleWrite("# FATAL: ");
  ConsoleWrite(what);
  ConsoleWrite("\n");
  Exit(2);
}

uint64_t HeapAllocations() { return allocations; }

}  // namespace qemu_image

void* operator new(size_t size) { return qemu_image::Allocate(size, 16); }
void* operator new[](size_t size) { return qemu_image::Allocate(size, 16); }
void* operator new(size_t size, std::align_val_t a) {
  return qemu_image::Allocate(size, static_cast<size_t>(a));
}
void* operator new[](size_t size, std::align_val_t a) {
  return qemu_image::Allocate(size, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept { qemu_image::Free(p); }
void operator delete[](void* p) noexcept { qemu_image::Free(p); }
void operator delete(void* p, size_t) noexcept { qemu_image::Free(p); }
void operator delete[](void* p, size_t) noexcept { qemu_image::Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { qemu_image::Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { qemu_image::Free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { qemu_image::Free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { qemu_image::Free(p); }

namespace absl::freestanding_internal {
void StatusOrValueOfError(const Status& status) {
  qemu_image::ConsoleWrite("# FATAL: the value of a StatusOr holding an error: ");
  qemu_image::Fatal(status.c_message());
}
}  // namespace absl::freestanding_internal

namespace std {
void __throw_length_error(const char* what) { qemu_image::Fatal(what); }
void __throw_bad_alloc() { qemu_image::Fatal("bad_alloc"); }
void __throw_bad_array_new_length() { qemu_image::Fatal("bad_array_new_length"); }
}  // namespace std

extern "C" {
void* __dso_handle = &__dso_handle;
// Destructors of statics never run: the image stops through semihosting.
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void __cxa_pure_virtual() { qemu_image::Fatal("pure virtual call"); }
void abort() { qemu_image::Fatal("abort"); }
// One CPU, nothing else to run: the vGIC's once-per-VM wait for another CPU's broadcast never
// spins here, and yielding returns at once.
int sched_yield() { return 0; }
// hw/reg/register.h reports a debug-checked field overflow with fprintf(stderr, ...) and then
// aborts: the format is printed as is.
FILE* stderr = nullptr;
int fprintf(FILE*, const char* format, ...) {
  qemu_image::ConsoleWrite("# ");
  qemu_image::ConsoleWrite(format);
  return 0;
}
}
