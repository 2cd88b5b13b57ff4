// SPDX-License-Identifier: MIT
// The image's minimal runtime: Arm semihosting for the console and the exit status (QEMU's
// -semihosting-config; Arm "Semihosting for AArch32 and AArch64", SYS_WRITE0 0x04, SYS_EXIT
// 0x18), and the heap for creation-time memory: a bump arena that returns to empty once every
// block is freed (the vGIC allocates only in Create, and frees it all when the VM goes).
#ifndef IRQVIRT_TOOLS_QEMU_GICV3_RUNTIME_H_
#define IRQVIRT_TOOLS_QEMU_GICV3_RUNTIME_H_

#include <cstdint>

namespace qemu_image {

void ConsoleWrite(const char* text);
void ConsoleLine(const char* label, uint64_t value);  // "# <label> 0x<value>"
[[noreturn]] void Exit(uint32_t status);
[[noreturn]] void Fatal(const char* what);
uint64_t HeapAllocations();  // allocations since boot (operator new calls)

}  // namespace qemu_image

#endif  // IRQVIRT_TOOLS_QEMU_GICV3_RUNTIME_H_
