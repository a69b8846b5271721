/*
 * vmsix-payload entry: an arm64 Linux Image header, so that QEMU's
 * -kernel loads the payload like a kernel and passes the DTB in x0, then
 * a stack, a cleared BSS and main().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .section .text.head, "ax"
    .global _start
_start:
    b       entry                   /* code0 */
    .long   0                       /* code1 */
    .quad   0x80000                 /* text_offset from a 2 MiB boundary */
    .quad   _end - _start           /* image_size, BSS included */
    .quad   0x2                     /* flags: LE, 4K pages, near RAM base */
    .quad   0, 0, 0                 /* res2..res4 */
    .ascii  "ARM\x64"               /* magic */
    .long   0                       /* res5 */

entry:
    /* No interrupt is ever taken: LPIs are polled from ICC_IAR1_EL1. */
    msr     daifset, #0xf
    mov     x19, x0                 /* DTB */

    /*
     * The payload is linked at a fixed address (RAM base + text_offset on
     * QEMU's virt machine); anywhere else it cannot run.
     */
    adr     x1, _start
    ldr     x2, =_start
    cmp     x1, x2
    b.ne    wrong_place

    ldr     x1, =vectors
    msr     vbar_el1, x1
    /* Let EL0/EL1 use FP/SIMD in case a library routine touches it. */
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb

    ldr     x1, =stack_top
    mov     sp, x1

    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:
    mov     x0, x19
    bl      main
    b       .

/*
 * A secondary CPU, started by PSCI CPU_ON with a struct cpu_boot in x0
 * (payload.h): the boot CPU's MMU set-up, vectors and a stack of its
 * own.  Its MMU is off until here, so the boot CPU cleaned the struct
 * to the point of coherency; from the SCTLR write on, the two CPUs see
 * the same cacheable memory.
 */
    .global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    ldr     x1, [x19, #32]          /* vbar */
    msr     vbar_el1, x1
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    ldr     x1, [x19, #0]           /* mair */
    msr     mair_el1, x1
    ldr     x1, [x19, #8]           /* tcr */
    msr     tcr_el1, x1
    ldr     x1, [x19, #16]          /* ttbr0 */
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x1, [x19, #24]          /* sctlr */
    msr     sctlr_el1, x1
    isb
    ldr     x1, [x19, #40]          /* sp */
    mov     sp, x1
    bl      secondary_main
5:  wfi
    b       5b

wrong_place:
    /*
     * Nothing is set up yet: print a fixed message on the virt machine's
     * PL011 and stop.  That is the best that can be done here.
     */
    ldr     x1, =0x09000000
    adr     x2, wrong_msg
3:  ldrb    w3, [x2], #1
    cbz     w3, 4f
    str     w3, [x1]
    b       3b
4:  wfi
    b       4b
wrong_msg:
    .asciz  "vmsix-payload: FATAL: not loaded at its link address\r\n"

/*
 * Exceptions are never expected: each vector reports itself and powers
 * off, so that a bug shows as a message instead of a hang.
 */
    .macro vec idx
    .balign 0x80
    mov     x0, #\idx
    b       exception_entry
    .endm

    .balign 0x800
vectors:
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vec \i
    .endr

exception_entry:
    ldr     x1, =stack_top
    mov     sp, x1
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      exception_report
    b       .

    .section .bss.stack, "aw", %nobits
    .balign 16
    .space  65536
stack_top:
