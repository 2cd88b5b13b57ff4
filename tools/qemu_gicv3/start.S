// SPDX-License-Identifier: MIT
// Entry at EL2 (QEMU starts an ELF image at the highest implemented Exception level: EL2 on
// -M virt,virtualization=on without secure=on), and the EL2 exception vectors. Every exception
// from the EL1 guest saves x0-x30, ELR_EL2 and SPSR_EL2 in a frame on the EL2 stack, calls the C++
// handler with the frame (which it may change: a trapped read's Rt, ELR past a trapped
// instruction) and returns to the guest with ERET. Vector layout: Arm ARM D1.10.2, VBAR_ELx.
    .section .text.boot, "ax"
    .global _start
_start:
    mrs     x0, CurrentEL
    and     x0, x0, #0xc
    cmp     x0, #8                  // EL2
    b.ne    wrong_el
    ldr     x0, =__el2_stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  ldr     x0, =el2_vectors
    msr     vbar_el2, x0
    isb
    bl      el2_main
    b       .

// Not at EL2: nothing here can run. Semihosting SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit
// (0x20026) and status 3.
wrong_el:
    ldr     x1, =wrong_el_block
    mov     x0, #0x18
    hlt     #0xf000
    b       .

    .section .rodata
    .balign 8
wrong_el_block:
    .quad   0x20026
    .quad   3

    .text
// Frame: x0..x30 at 8*n, ELR_EL2 at 248, SPSR_EL2 at 256 (272 bytes, 16-aligned).
.macro TRAP_TO handler, kind
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x0, x1, [sp, #248]
    mov     x0, sp
    mov     x1, #\kind
    bl      \handler
    ldp     x0, x1, [sp, #248]
    msr     elr_el2, x0
    msr     spsr_el2, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #272
    eret
.endm

lower_sync:     TRAP_TO el2_lower_sync, 0
lower_irq:      TRAP_TO el2_lower_irq, 1
unexpected_0:   TRAP_TO el2_unexpected, 0
unexpected_1:   TRAP_TO el2_unexpected, 1
unexpected_2:   TRAP_TO el2_unexpected, 2
unexpected_3:   TRAP_TO el2_unexpected, 3
unexpected_4:   TRAP_TO el2_unexpected, 4
unexpected_5:   TRAP_TO el2_unexpected, 5
unexpected_6:   TRAP_TO el2_unexpected, 6

    .balign 0x800
el2_vectors:
    // Current EL with SP_EL0: sync, IRQ, FIQ, SError
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
    // Current EL with SP_ELx: EL2's own code never takes an exception
    .balign 0x80
    b       unexpected_1
    .balign 0x80
    b       unexpected_2
    .balign 0x80
    b       unexpected_3
    .balign 0x80
    b       unexpected_4
    // Lower EL, AArch64: the guest's HVCs and traps, and the maintenance interrupt
    .balign 0x80
    b       lower_sync
    .balign 0x80
    b       lower_irq
    .balign 0x80
    b       unexpected_5
    .balign 0x80
    b       unexpected_6
    // Lower EL, AArch32: never (HCR_EL2.RW = 1)
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
    .balign 0x80
    b       unexpected_0
