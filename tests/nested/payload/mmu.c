/*
 * vmsix-payload: an identity map with the MMU on, in 1 GiB blocks: RAM
 * normal write-back cacheable, everything else device memory.
 *
 * With the MMU off every data access would be a device access: the GIC's
 * tables would be written uncached while a hypervisor's emulated ITS
 * reads them through its own cacheable mapping, which real hardware does
 * not keep coherent.  Mapping RAM cacheable (and telling the GIC so)
 * avoids that, and makes the payload faster under TCG.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "payload.h"

#define ATTR_DEVICE     0       /* MAIR index: Device-nGnRnE */
#define ATTR_NORMAL     1       /* MAIR index: Normal, WB RW-allocate */

#define DESC_TABLE      3UL
#define DESC_BLOCK      1UL
#define DESC_ATTR(i)    ((uint64_t)(i) << 2)
#define DESC_SH_INNER   (3UL << 8)
#define DESC_AF         BIT(10)
#define DESC_XN         (BIT(53) | BIT(54))

#define GIB             BIT(30)
#define MAX_L1          16      /* 16 TiB of physical address space */

static uint64_t max_addr(void)
{
    uint64_t ends[] = {
        dt.uart + 0x1000, dt.mem_base + dt.mem_size, dt.gicd + 0x10000,
        dt.gicr + dt.gicr_size, dt.its + 0x20000, dt.ecam + dt.ecam_size,
        dt.mmio32_cpu + dt.mmio32_size,
    };
    uint64_t m = 0;
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(ends); i++) {
        m = ends[i] > m ? ends[i] : m;
    }
    return m;
}

void mmu_enable(void)
{
    uint64_t *l0 = alloc(4096, 4096);
    uint64_t top = max_addr();
    uint64_t nl1 = ALIGN_UP(top, 512 * GIB) / (512 * GIB);
    uint64_t parange = read_sysreg(id_aa64mmfr0_el1) & 0xf;
    uint64_t i, j, tcr, sctlr;

    if (nl1 > MAX_L1) {
        die("device tree addresses up to %lx: beyond the identity map", top);
    }
    for (i = 0; i < nl1; i++) {
        uint64_t *l1 = alloc(4096, 4096);

        for (j = 0; j < 512; j++) {
            uint64_t pa = (i * 512 + j) * GIB;
            bool ram = pa + GIB > dt.mem_base &&
                       pa < dt.mem_base + dt.mem_size;

            l1[j] = pa | DESC_BLOCK | DESC_AF | DESC_SH_INNER |
                    (ram ? DESC_ATTR(ATTR_NORMAL) :
                           DESC_ATTR(ATTR_DEVICE) | DESC_XN);
        }
        l0[i] = (uintptr_t)l1 | DESC_TABLE;
        dcache_clean_inval(l1, 4096);
    }
    dcache_clean_inval(l0, 4096);

    write_sysreg(mair_el1, 0x00UL << (8 * ATTR_DEVICE) |
                           0xffUL << (8 * ATTR_NORMAL));
    tcr = 16                    /* T0SZ: 48-bit VA, walk from level 0 */
        | 1UL << 8             /* IRGN0: WB RA WA */
        | 1UL << 10            /* ORGN0: WB RA WA */
        | 3UL << 12            /* SH0: inner shareable */
        | 0UL << 14            /* TG0: 4 KiB */
        | 1UL << 23            /* EPD1: no TTBR1 walks */
        | (parange > 5 ? 5 : parange) << 32;    /* IPS */
    write_sysreg(tcr_el1, tcr);
    write_sysreg(ttbr0_el1, (uintptr_t)l0);
    isb();
    asm volatile("tlbi vmalle1" : : : "memory");
    dsb(nsh);
    isb();
    sctlr = read_sysreg(sctlr_el1);
    sctlr |= BIT(0) | BIT(2) | BIT(12);         /* M, C, I */
    sctlr &= ~(BIT(1) | BIT(19));               /* A, WXN */
    write_sysreg(sctlr_el1, sctlr);
    isb();
}
