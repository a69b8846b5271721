/*
 * vmsix-payload: GICv3 distributor, redistributor LPI tables, ITS tables
 * and command queue, and LPI polling through ICC_IAR1_EL1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "payload.h"

/* Distributor */
#define GICD_CTLR               0x0000
#define GICD_TYPER              0x0004
#define GICD_CTLR_RWP           BIT(31)

/* Redistributor, RD_base frame */
#define GICR_CTLR               0x0000
#define GICR_TYPER              0x0008
#define GICR_WAKER              0x0014
#define GICR_PROPBASER          0x0070
#define GICR_PENDBASER          0x0078

/* Redistributor, SGI_base frame (RD_base + 64 KiB) */
#define GICR_SGI_BASE           0x10000
#define GICR_IGROUPR0           0x0080
#define GICR_ISENABLER0         0x0100
#define GICR_IPRIORITYR0        0x0400

/* ITS */
#define GITS_CTLR               0x0000
#define GITS_TYPER              0x0008
#define GITS_CBASER             0x0080
#define GITS_CWRITER            0x0088
#define GITS_CREADR             0x0090
#define GITS_BASER(n)           (0x0100 + 8 * (n))
#define GITS_TRANSLATER         0x10040

/* Attributes of the tables we hand to the GIC: inner shareable WB. */
#define CACHE_WB                7UL    /* Normal, inner WB RA WA */
#define SH_INNER                1UL

#define ITS_QUEUE_SIZE          65536
#define LPI_ID_BITS             14      /* INTIDs up to 16383 */
#define LPI_PRIO                0xa0
#define LPI_PROP_ENABLE         0x01
#define LPI_PROP_RES1           0x02

/* ICC system registers, by encoding so that any assembler takes them */
#define ICC_PMR_EL1             "S3_0_C4_C6_0"
#define ICC_SGI1R_EL1           "S3_0_C12_C11_5"
#define ICC_IAR1_EL1            "S3_0_C12_C12_0"
#define ICC_EOIR1_EL1           "S3_0_C12_C12_1"
#define ICC_BPR1_EL1            "S3_0_C12_C12_3"
#define ICC_CTLR_EL1            "S3_0_C12_C12_4"
#define ICC_SRE_EL1             "S3_0_C12_C12_5"
#define ICC_IGRPEN1_EL1         "S3_0_C12_C12_7"

#define icc_read(r) ({                                          \
    uint64_t __v;                                               \
    asm volatile("mrs %0, " r : "=r"(__v) : : "memory");        \
    __v;                                                        \
})
#define icc_write(r, v) \
    asm volatile("msr " r ", %0" : : "r"((uint64_t)(v)) : "memory")

uint32_t lpi_count[LPI_MAX];
uint64_t lpi_total;
uint64_t its_doorbell;

static uint64_t rd;             /* the boot CPU's redistributor */
static uint8_t *prop_table;
static uint32_t lpi_next = LPI_BASE;
static uint64_t its_typer;
static uint32_t ite_size;
static uint64_t *cmdq;
static uint64_t cwriter;
static uint64_t rd_target;      /* RDbase field of MAPC and SYNC */
static uint64_t other_irqs;

static void wait_bits(uint64_t addr, uint32_t mask, uint32_t want,
                      const char *what)
{
    uint64_t deadline = deadline_in_ms(1000);

    while ((readl(addr) & mask) != want) {
        if (past(deadline)) {
            die("timeout waiting for %s (register %lx reads %x)", what,
                addr, readl(addr));
        }
    }
}

/* The redistributor of the CPU that calls it */
static uint64_t find_redistributor(void)
{
    uint64_t mpidr = read_sysreg(mpidr_el1);
    uint32_t aff = (mpidr >> 8 & 0xff000000) | (mpidr & 0xffffff);
    uint64_t a, found = 0;

    for (a = dt.gicr; a < dt.gicr + dt.gicr_size;) {
        uint64_t typer = readq(a + GICR_TYPER);

        if ((uint32_t)(typer >> 32) == aff) {
            found = a;
            break;
        }
        if (typer & BIT(4)) {   /* Last */
            break;
        }
        /* Two 64 KiB frames, four with GICv4's vLPI frames. */
        a += dt.gicr_stride ? dt.gicr_stride :
             (typer & BIT(1)) ? 0x40000 : 0x20000;
    }
    if (!found) {
        die("no GICv3 redistributor for MPIDR %lx", mpidr);
    }
    if (!(readq(found + GICR_TYPER) & BIT(0))) {
        die("the redistributor does not support LPIs (GICR_TYPER.PLPIS)");
    }
    return found;
}

/*
 * LPIs on redistributor @r: its own pending table, the one property
 * table that every redistributor shares (KVM keeps one GICR_PROPBASER
 * for the whole VM), allocated by the first.
 */
static void redist_lpi_init(uint64_t r)
{
    uint32_t prop_size = (1 << LPI_ID_BITS) - LPI_BASE;
    void *pend = alloc((1 << LPI_ID_BITS) / 8, 65536);
    uint64_t v;

    writel(r + GICR_WAKER, readl(r + GICR_WAKER) & ~BIT(1));
    wait_bits(r + GICR_WAKER, BIT(2), 0, "GICR_WAKER.ChildrenAsleep");

    if (readl(r + GICR_CTLR) & BIT(0)) {
        die("LPIs already enabled on the redistributor");
    }
    if (!prop_table) {
        prop_table = alloc(prop_size, 4096);
        dcache_clean_inval(prop_table, prop_size);
    }
    dcache_clean_inval(pend, (1 << LPI_ID_BITS) / 8);

    v = (uintptr_t)prop_table | (LPI_ID_BITS - 1) | CACHE_WB << 7 |
        SH_INNER << 10;
    writeq(r + GICR_PROPBASER, v);
    v = (uintptr_t)pend | CACHE_WB << 7 | SH_INNER << 10 | BIT(62);
    writeq(r + GICR_PENDBASER, v);
    dsb(sy);
    writel(r + GICR_CTLR, readl(r + GICR_CTLR) | BIT(0));
    dsb(sy);
}

static void cpu_if_init(void)
{
    icc_write(ICC_SRE_EL1, icc_read(ICC_SRE_EL1) | 1);
    isb();
    if (!(icc_read(ICC_SRE_EL1) & 1)) {
        die("the GIC CPU interface has no system register access");
    }
    icc_write(ICC_PMR_EL1, 0xff);
    icc_write(ICC_BPR1_EL1, 0);
    icc_write(ICC_CTLR_EL1, 0);         /* EOImode 0: EOI deactivates */
    icc_write(ICC_IGRPEN1_EL1, 1);
    isb();
}

/* One table for GITS_BASER<n>; returns false if the ITS has none there. */
static void its_setup_baser(int n)
{
    uint64_t v = readq(dt.its + GITS_BASER(n));
    uint32_t type = v >> 56 & 7;
    uint32_t esz = (v >> 48 & 0x1f) + 1;
    uint32_t devbits = (its_typer >> 13 & 0x1f) + 1;
    static const uint32_t page_sizes[] = { 65536, 16384, 4096 };
    uint64_t entries, bytes, pgsz = 0, val;
    void *table;
    unsigned i;

    switch (type) {
    case 1:                     /* devices: all our device IDs fit 16 bits */
        entries = BIT(devbits < 16 ? devbits : 16);
        break;
    case 4:                     /* collections: we use one */
        entries = 256;
        break;
    default:
        return;
    }
    bytes = ALIGN_UP(entries * esz, 65536);
    table = alloc(bytes, 65536);
    dcache_clean_inval(table, bytes);

    /* Take the largest page size the ITS accepts. */
    for (i = 0; i < ARRAY_SIZE(page_sizes); i++) {
        uint64_t code = i == 0 ? 2 : i == 1 ? 1 : 0;
        uint64_t pages = bytes / page_sizes[i];

        if (pages > 256) {
            continue;
        }
        val = BIT(63) | CACHE_WB << 59 | (uintptr_t)table | SH_INNER << 10 |
              code << 8 | (pages - 1);
        writeq(dt.its + GITS_BASER(n), val);
        if ((readq(dt.its + GITS_BASER(n)) >> 8 & 3) == code) {
            pgsz = page_sizes[i];
            break;
        }
    }
    if (!pgsz) {
        die("ITS refuses every page size for GITS_BASER%d (type %u)", n,
            type);
    }
    printf("ITS: GITS_BASER%d type %s entry %u bytes, %lu KiB in %lu KiB "
           "pages\n", n, type == 1 ? "devices" : "collections", esz,
           bytes / 1024, pgsz / 1024);
}

static void its_wait(void)
{
    uint64_t deadline = deadline_in_ms(5000);
    uint64_t r;

    while ((r = readq(dt.its + GITS_CREADR)) != cwriter) {
        if (r & 1) {
            die("ITS command queue stalled at offset %lx", r & ~31UL);
        }
        if (past(deadline)) {
            die("timeout: ITS command queue at %lx, written up to %lx", r,
                cwriter);
        }
    }
}

static void its_cmd(uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    uint64_t next = (cwriter + 32) % ITS_QUEUE_SIZE;
    uint64_t *c = &cmdq[cwriter / 8];
    uint64_t deadline = deadline_in_ms(5000);

    /* Full when the next write position would reach the read position. */
    while (readq(dt.its + GITS_CREADR) == next) {
        if (past(deadline)) {
            die("timeout: ITS command queue full");
        }
    }
    c[0] = d0;
    c[1] = d1;
    c[2] = d2;
    c[3] = d3;
    dcache_clean_inval(c, 32);
    cwriter = next;
    writeq(dt.its + GITS_CWRITER, cwriter);
}

void its_sync(void)
{
    its_cmd(0x05, 0, rd_target, 0);
    its_wait();
}

static void its_init(void)
{
    uint64_t v;
    int n;

    if (!dt.its) {
        die("no ITS (\"arm,gic-v3-its\") in the device tree: MSI-X cannot "
            "be delivered as LPIs");
    }
    writel(dt.its + GITS_CTLR, 0);
    wait_bits(dt.its + GITS_CTLR, BIT(31), BIT(31), "GITS_CTLR.Quiescent");
    its_typer = readq(dt.its + GITS_TYPER);
    if (!(its_typer & 1)) {
        die("the ITS does not support physical LPIs");
    }
    ite_size = (its_typer >> 4 & 0xf) + 1;
    for (n = 0; n < 8; n++) {
        its_setup_baser(n);
    }

    cmdq = alloc(ITS_QUEUE_SIZE, 65536);
    dcache_clean_inval(cmdq, ITS_QUEUE_SIZE);
    v = BIT(63) | CACHE_WB << 59 | SH_INNER << 10 | (uintptr_t)cmdq |
        (ITS_QUEUE_SIZE / 4096 - 1);
    writeq(dt.its + GITS_CBASER, v);
    cwriter = 0;
    writeq(dt.its + GITS_CWRITER, 0);
    writel(dt.its + GITS_CTLR, 1);

    /* PTA: the target is the redistributor's address, else its number. */
    if (its_typer & BIT(19)) {
        rd_target = rd;
    } else {
        rd_target = (readq(rd + GICR_TYPER) >> 8 & 0xffff) << 16;
    }
    its_cmd(0x09, 0, BIT(63) | rd_target | 0, 0);       /* MAPC ICID 0 */
    its_sync();
    its_doorbell = dt.its + GITS_TRANSLATER;
    printf("ITS: %lx, doorbell %lx, ITE %u bytes, %u device ID bits, "
           "%u event ID bits, PTA %u\n", dt.its, its_doorbell, ite_size,
           (uint32_t)(its_typer >> 13 & 0x1f) + 1,
           (uint32_t)(its_typer >> 8 & 0x1f) + 1,
           (uint32_t)(its_typer >> 19 & 1));
}

void gic_init(void)
{
    uint32_t typer;

    if (!dt.gicd || !dt.gicr) {
        die("no GICv3 (\"arm,gic-v3\") in the device tree");
    }
    typer = readl(dt.gicd + GICD_TYPER);
    if (!(typer & BIT(17))) {
        die("the GIC distributor does not support LPIs (GICD_TYPER.LPIS)");
    }
    if ((typer >> 19 & 0x1f) + 1 < LPI_ID_BITS) {
        die("the GIC supports only %u interrupt ID bits",
            (typer >> 19 & 0x1f) + 1);
    }
    /*
     * Affinity routing and group 1: bit 4 is ARE(_NS) and bits 0-1 the
     * group enables, in both the one- and two-security-state views.
     */
    writel(dt.gicd + GICD_CTLR, BIT(4));
    wait_bits(dt.gicd + GICD_CTLR, GICD_CTLR_RWP, 0, "GICD_CTLR.RWP");
    writel(dt.gicd + GICD_CTLR, BIT(4) | BIT(1) | BIT(0));
    wait_bits(dt.gicd + GICD_CTLR, GICD_CTLR_RWP, 0, "GICD_CTLR.RWP");

    rd = find_redistributor();
    redist_lpi_init(rd);
    cpu_if_init();
    its_init();
}

/*
 * Set up the calling secondary CPU's GIC: its redistributor with LPIs
 * on, its CPU interface, and SGI 0 enabled in group 1 with priority
 * @sgi_prio.  Returns the redistributor's target for MAPC and SYNC.
 * The boot CPU does the ITS commands: the command queue is its own.
 */
uint64_t gic_secondary_init(uint8_t sgi_prio)
{
    uint64_t r = find_redistributor();
    uint64_t sgi = r + GICR_SGI_BASE;

    redist_lpi_init(r);
    writel(sgi + GICR_IPRIORITYR0, (readl(sgi + GICR_IPRIORITYR0) & ~0xffU) |
           sgi_prio);
    writel(sgi + GICR_IGROUPR0, readl(sgi + GICR_IGROUPR0) | BIT(0));
    writel(sgi + GICR_ISENABLER0, BIT(0));
    dsb(sy);
    cpu_if_init();
    if (its_typer & BIT(19)) {
        return r;
    }
    return (readq(r + GICR_TYPER) >> 8 & 0xffff) << 16;
}

/* Only interrupts of a higher priority (a lower value) than @pmr come */
void gic_set_pmr(uint8_t pmr)
{
    icc_write(ICC_PMR_EL1, pmr);
    isb();
}

/*
 * Acknowledge and end one interrupt of the calling CPU, counting
 * nothing: the INTID, or -1 if none is pending.
 */
int gic_ack(void)
{
    uint32_t irq = icc_read(ICC_IAR1_EL1) & 0xffffff;

    if (irq >= 1020 && irq <= 1023) {
        return -1;
    }
    icc_write(ICC_EOIR1_EL1, irq);
    isb();
    return irq;
}

/* SGI @intid, group 1, to the CPU whose MPIDR is @mpidr (Aff0 < 16) */
void gic_send_sgi(uint64_t mpidr, uint32_t intid)
{
    uint64_t v = (mpidr >> 32 & 0xff) << 48 | (mpidr >> 16 & 0xff) << 32 |
                 (uint64_t)(intid & 0xf) << 24 | (mpidr >> 8 & 0xff) << 16 |
                 BIT(mpidr & 0xf);

    dsb(ish);
    icc_write(ICC_SGI1R_EL1, v);
    isb();
}

/* MAPC: collection @icid goes to the redistributor @target */
void its_map_collection(uint32_t icid, uint64_t target)
{
    its_cmd(0x09, 0, BIT(63) | target | icid, 0);
}

/* MOVI: the device's @event keeps its LPI, moved to collection @icid */
void its_movi(uint32_t devid, uint32_t event, uint32_t icid)
{
    its_cmd(0x01 | (uint64_t)devid << 32, event, icid, 0);
}

/* SYNC on the redistributor @target */
void its_sync_target(uint64_t target)
{
    its_cmd(0x05, 0, target, 0);
    its_wait();
}

/* Reserve @n consecutive LPIs and enable them in the property table. */
uint32_t lpi_alloc(uint32_t n)
{
    uint32_t first = lpi_next, i;

    if (lpi_next + n > LPI_BASE + LPI_MAX) {
        die("out of LPIs: %u more wanted", n);
    }
    lpi_next += n;
    for (i = first; i < first + n; i++) {
        prop_table[i - LPI_BASE] = LPI_PRIO | LPI_PROP_RES1 | LPI_PROP_ENABLE;
    }
    dcache_clean_inval(&prop_table[first - LPI_BASE], n);
    return first;
}

void its_map_device(uint32_t devid, uint32_t nevents)
{
    uint32_t bits = 1;
    void *itt;

    while (BIT(bits) < nevents) {
        bits++;
    }
    if (bits > (its_typer >> 8 & 0x1f) + 1) {
        die("the ITS cannot take %u events per device", nevents);
    }
    itt = alloc(BIT(bits) * ite_size, 256);
    dcache_clean_inval(itt, BIT(bits) * ite_size);
    its_cmd(0x08 | (uint64_t)devid << 32, bits - 1,
            BIT(63) | (uintptr_t)itt, 0);
}

/* MAPD with V=0: the device's events translate to nothing from now on. */
void its_unmap_device(uint32_t devid)
{
    its_cmd(0x08 | (uint64_t)devid << 32, 0, 0, 0);
}

void its_map_event(uint32_t devid, uint32_t event, uint32_t lpi)
{
    its_cmd(0x0a | (uint64_t)devid << 32, event | (uint64_t)lpi << 32, 0, 0);
}

void its_inv(uint32_t devid, uint32_t event)
{
    its_cmd(0x0c | (uint64_t)devid << 32, event, 0, 0);
}

void its_invall(void)
{
    its_cmd(0x0d, 0, 0, 0);
}

/*
 * Acknowledge one interrupt if one is pending.  Returns its INTID, or -1
 * if none is.  Every LPI is counted here and nowhere else.
 */
int gic_poll(void)
{
    int irq = gic_ack();

    if (irq < 0) {
        return -1;
    }
    if (irq >= LPI_BASE && irq < LPI_BASE + LPI_MAX) {
        lpi_count[irq - LPI_BASE]++;
        lpi_total++;
    } else {
        other_irqs++;
        printf("note: unexpected interrupt %d acknowledged\n", irq);
    }
    return irq;
}

void lpi_counts_reset(void)
{
    memset(lpi_count, 0, sizeof(lpi_count));
    lpi_total = 0;
}
