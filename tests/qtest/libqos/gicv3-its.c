/*
 * libqos driver for the LPI side of a GICv3: redistributor and ITS
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "gicv3-its.h"

/* Redistributor, RD_base frame */
#define GICR_CTLR                   0x0000
#define GICR_CTLR_ENABLE_LPIS       (1U << 0)
#define GICR_TYPER                  0x0008
#define GICR_TYPER_PLPIS            (1ULL << 0)
#define GICR_TYPER_PROCNUM(t)       (((t) >> 8) & 0xffff)
#define GICR_PROPBASER              0x0070
#define GICR_PENDBASER              0x0078

/* ITS control frame */
#define GITS_CTLR                   0x0000
#define GITS_CTLR_ENABLED           (1U << 0)
#define GITS_TYPER                  0x0008
#define GITS_TYPER_ITT_ENTRY_SIZE(t) ((((t) >> 4) & 0xf) + 1)
#define GITS_TYPER_DEVBITS(t)       ((((t) >> 13) & 0x1f) + 1)
#define GITS_TYPER_PTA              (1ULL << 19)
#define GITS_CBASER                 0x0080
#define GITS_CWRITER                0x0088
#define GITS_CREADR                 0x0090
#define GITS_CREADR_STALLED         (1ULL << 0)
#define GITS_CQ_OFFSET_MASK         0xfffe0ULL
#define GITS_BASER(n)               (0x0100 + 8 * (n))
#define GITS_BASER_NR               8

/* Fields of GITS_BASER<n> and GITS_CBASER */
#define GITS_BASER_VALID            (1ULL << 63)
#define GITS_BASER_TYPE(v)          (((v) >> 56) & 0x7)
#define GITS_BASER_TYPE_NONE        0
#define GITS_BASER_TYPE_DEVICE      1
#define GITS_BASER_TYPE_COLLECTION  4
#define GITS_BASER_ENTRY_SIZE(v)    ((((v) >> 48) & 0x1f) + 1)
#define GITS_BASER_PAGE_SIZE(v)     (((v) >> 8) & 0x3)
#define GITS_BASER_PAGES_MAX        256

/* ITS commands */
#define GITS_CMD_INT                0x03
#define GITS_CMD_CLEAR              0x04
#define GITS_CMD_SYNC               0x05
#define GITS_CMD_MAPD               0x08
#define GITS_CMD_MAPC               0x09
#define GITS_CMD_MAPTI              0x0a
#define GITS_CMD_INV                0x0c
#define GITS_CMD_INVALL             0x0d
#define GITS_CMD_SIZE               32
#define GITS_CMD_VALID              (1ULL << 63)

/* LPI configuration table entries */
#define LPI_PROP_ENABLED            (1U << 0)
#define LPI_PROP_PRIO_MASK          0xfc

#define GITS_CMDQ_SIZE              0x1000
#define ITS_ITT_ALIGN               256
#define ITS_TABLE_ALIGN             0x10000

/*
 * Allocate @size bytes of zeroed guest RAM aligned to @align.  The
 * allocator only guarantees page alignment, so over-allocate.
 */
static uint64_t its_alloc(QGICv3ITS *its, size_t size, size_t align)
{
    uint64_t addr = guest_alloc(its->alloc, size + align);

    g_assert(addr);
    addr = QEMU_ALIGN_UP(addr, align);
    qtest_memset(its->qts, addr, 0, size);
    return addr;
}

static void redist_enable_lpis(QGICv3ITS *its)
{
    QTestState *qts = its->qts;
    uint64_t typer = qtest_readq(qts, its->rd_base + GICR_TYPER);
    size_t prop_size = (1ULL << (its->lpi_idbits + 1)) - GICV3_LPI_BASE;
    size_t pend_size = (1ULL << (its->lpi_idbits + 1)) / 8;

    g_assert_true(typer & GICR_TYPER_PLPIS);
    g_assert_cmphex(qtest_readl(qts, its->rd_base + GICR_CTLR) &
                    GICR_CTLR_ENABLE_LPIS, ==, 0);

    /*
     * The configuration table covers the LPIs only (one byte each), the
     * pending table all INTIDs (one bit each, the first 1KB unused).  The
     * pending table must be 64KB aligned, and it starts out all zero.
     */
    its->prop_table = its_alloc(its, prop_size, 0x1000);
    its->pend_table = its_alloc(its, pend_size, 0x10000);

    qtest_writeq(qts, its->rd_base + GICR_PROPBASER,
                 its->prop_table | its->lpi_idbits);
    qtest_writeq(qts, its->rd_base + GICR_PENDBASER, its->pend_table);
    g_assert_cmphex(qtest_readq(qts, its->rd_base + GICR_PROPBASER), ==,
                    its->prop_table | its->lpi_idbits);
    g_assert_cmphex(qtest_readq(qts, its->rd_base + GICR_PENDBASER), ==,
                    its->pend_table);

    qtest_writel(qts, its->rd_base + GICR_CTLR, GICR_CTLR_ENABLE_LPIS);
    g_assert_cmphex(qtest_readl(qts, its->rd_base + GICR_CTLR) &
                    GICR_CTLR_ENABLE_LPIS, ==, GICR_CTLR_ENABLE_LPIS);

    /*
     * The target of MAPC and SYNC: with GITS_TYPER.PTA the physical
     * address of the redistributor (in 64KB units, which is what bits
     * [51:16] of the command hold), otherwise its processor number.
     */
    if (its->typer & GITS_TYPER_PTA) {
        its->rdbase_target = its->rd_base & ~0xffffULL;
    } else {
        its->rdbase_target = GICR_TYPER_PROCNUM(typer) << 16;
    }
}

static void its_setup_table(QGICv3ITS *its, int n)
{
    QTestState *qts = its->qts;
    uint64_t reg = its->its_base + GITS_BASER(n);
    uint64_t val = qtest_readq(qts, reg);
    unsigned type = GITS_BASER_TYPE(val);
    unsigned esize = GITS_BASER_ENTRY_SIZE(val);
    unsigned psz_field = GITS_BASER_PAGE_SIZE(val);
    static const size_t page_sizes[] = { 0x1000, 0x4000, 0x10000, 0x10000 };
    size_t psz = page_sizes[psz_field];
    uint64_t entries, size, pages, addr, want;

    switch (type) {
    case GITS_BASER_TYPE_DEVICE:
        /* Room for every DeviceID the ITS implements, at most 16 bits */
        entries = 1ULL << MIN(its->devid_bits, 16);
        break;
    case GITS_BASER_TYPE_COLLECTION:
        /* A few collections are plenty */
        entries = 64;
        break;
    default:
        /* Unimplemented, or a vPE table, which these tests do not need */
        return;
    }

    size = QEMU_ALIGN_UP(entries * esize, psz);
    pages = size / psz;
    g_assert_cmpuint(pages, <=, GITS_BASER_PAGES_MAX);
    addr = its_alloc(its, size, MAX(psz, ITS_TABLE_ALIGN));
    /*
     * A flat table.  For every page size, address bits [47:12] sit in
     * place in the register; tables below 256TB need nothing else.
     */
    g_assert_cmphex(addr >> 48, ==, 0);
    want = GITS_BASER_VALID | ((uint64_t)type << 56) |
           ((uint64_t)(esize - 1) << 48) | addr |
           ((uint64_t)psz_field << 8) | (pages - 1);
    qtest_writeq(qts, reg, want);
    g_assert_cmphex(qtest_readq(qts, reg), ==, want);
}

void qgicv3_its_init(QGICv3ITS *its, QTestState *qts, QGuestAllocator *alloc,
                     uint64_t its_base, uint64_t redist_base,
                     unsigned lpi_idbits)
{
    uint64_t cbaser;
    int n;

    g_assert_cmpuint(lpi_idbits, >=, 13);
    g_assert_cmpuint(lpi_idbits, <, 32);

    memset(its, 0, sizeof(*its));
    its->qts = qts;
    its->alloc = alloc;
    its->its_base = its_base;
    its->rd_base = redist_base;
    its->lpi_idbits = lpi_idbits;

    g_assert_cmphex(qtest_readl(qts, its_base + GITS_CTLR) &
                    GITS_CTLR_ENABLED, ==, 0);
    its->typer = qtest_readq(qts, its_base + GITS_TYPER);
    its->itt_entry_size = GITS_TYPER_ITT_ENTRY_SIZE(its->typer);
    its->devid_bits = GITS_TYPER_DEVBITS(its->typer);

    redist_enable_lpis(its);

    for (n = 0; n < GITS_BASER_NR; n++) {
        its_setup_table(its, n);
    }

    /* The command queue: one 4KB page, 128 commands */
    its->cmdq_size = GITS_CMDQ_SIZE;
    its->cmdq = its_alloc(its, its->cmdq_size, ITS_TABLE_ALIGN);
    cbaser = GITS_BASER_VALID | its->cmdq | (its->cmdq_size / 0x1000 - 1);
    qtest_writeq(qts, its_base + GITS_CBASER, cbaser);
    g_assert_cmphex(qtest_readq(qts, its_base + GITS_CBASER), ==, cbaser);
    its->cwriter = 0;
    qtest_writeq(qts, its_base + GITS_CWRITER, 0);
    g_assert_cmphex(qtest_readq(qts, its_base + GITS_CREADR), ==, 0);

    qtest_writel(qts, its_base + GITS_CTLR, GITS_CTLR_ENABLED);
    g_assert_cmphex(qtest_readl(qts, its_base + GITS_CTLR) &
                    GITS_CTLR_ENABLED, ==, GITS_CTLR_ENABLED);

    /* Collection 0 targets CPU 0 */
    qgicv3_its_mapc(its, 0, true);
    qgicv3_its_invall(its, 0);
    qgicv3_its_sync(its);
}

uint64_t qgicv3_its_doorbell(QGICv3ITS *its)
{
    return its->its_base + GITS_TRANSLATER_OFFSET;
}

void qgicv3_its_wait(QGICv3ITS *its)
{
    uint64_t creadr;
    int i;

    /*
     * QEMU's ITS processes the queue synchronously in the write to
     * GITS_CWRITER, but do not rely on it: poll, with a bound.
     */
    for (i = 0; i < 1000; i++) {
        creadr = qtest_readq(its->qts, its->its_base + GITS_CREADR);
        g_assert_cmphex(creadr & GITS_CREADR_STALLED, ==, 0);
        if ((creadr & GITS_CQ_OFFSET_MASK) == its->cwriter) {
            return;
        }
        g_usleep(1000);
    }
    g_assert_cmphex(creadr & GITS_CQ_OFFSET_MASK, ==, its->cwriter);
}

void qgicv3_its_cmd(QGICv3ITS *its, uint64_t dw0, uint64_t dw1,
                    uint64_t dw2, uint64_t dw3)
{
    uint64_t slot = its->cmdq + its->cwriter;
    uint32_t next = (its->cwriter + GITS_CMD_SIZE) % its->cmdq_size;
    uint64_t creadr;

    /* The queue is full when the next write offset would reach CREADR */
    creadr = qtest_readq(its->qts, its->its_base + GITS_CREADR);
    if ((creadr & GITS_CQ_OFFSET_MASK) == next) {
        qgicv3_its_wait(its);
    }

    qtest_writeq(its->qts, slot, dw0);
    qtest_writeq(its->qts, slot + 8, dw1);
    qtest_writeq(its->qts, slot + 16, dw2);
    qtest_writeq(its->qts, slot + 24, dw3);
    its->cwriter = next;
    qtest_writeq(its->qts, its->its_base + GITS_CWRITER, its->cwriter);
}

void qgicv3_its_mapd(QGICv3ITS *its, uint32_t devid, uint64_t itt,
                     unsigned eventid_bits, bool valid)
{
    g_assert_cmpuint(eventid_bits, >=, 1);
    g_assert_cmphex(itt % ITS_ITT_ALIGN, ==, 0);
    qgicv3_its_cmd(its, GITS_CMD_MAPD | ((uint64_t)devid << 32),
                   eventid_bits - 1,
                   (valid ? GITS_CMD_VALID : 0) | itt, 0);
}

void qgicv3_its_mapc(QGICv3ITS *its, uint16_t icid, bool valid)
{
    qgicv3_its_cmd(its, GITS_CMD_MAPC, 0,
                   (valid ? GITS_CMD_VALID : 0) | its->rdbase_target | icid,
                   0);
}

void qgicv3_its_mapti(QGICv3ITS *its, uint32_t devid, uint32_t eventid,
                      uint32_t intid, uint16_t icid)
{
    qgicv3_its_cmd(its, GITS_CMD_MAPTI | ((uint64_t)devid << 32),
                   eventid | ((uint64_t)intid << 32), icid, 0);
}

void qgicv3_its_int(QGICv3ITS *its, uint32_t devid, uint32_t eventid)
{
    qgicv3_its_cmd(its, GITS_CMD_INT | ((uint64_t)devid << 32), eventid,
                   0, 0);
}

void qgicv3_its_clear(QGICv3ITS *its, uint32_t devid, uint32_t eventid)
{
    qgicv3_its_cmd(its, GITS_CMD_CLEAR | ((uint64_t)devid << 32), eventid,
                   0, 0);
}

void qgicv3_its_inv(QGICv3ITS *its, uint32_t devid, uint32_t eventid)
{
    qgicv3_its_cmd(its, GITS_CMD_INV | ((uint64_t)devid << 32), eventid,
                   0, 0);
}

void qgicv3_its_invall(QGICv3ITS *its, uint16_t icid)
{
    qgicv3_its_cmd(its, GITS_CMD_INVALL, 0, icid, 0);
}

void qgicv3_its_sync(QGICv3ITS *its)
{
    qgicv3_its_cmd(its, GITS_CMD_SYNC, 0, its->rdbase_target, 0);
    qgicv3_its_wait(its);
}

void qgicv3_its_map_device(QGICv3ITS *its, uint32_t devid,
                           unsigned eventid_bits)
{
    size_t itt_size = (1ULL << eventid_bits) * its->itt_entry_size;
    uint64_t itt = its_alloc(its, itt_size, ITS_ITT_ALIGN);

    g_assert_cmpuint(devid >> its->devid_bits, ==, 0);
    qgicv3_its_mapd(its, devid, itt, eventid_bits, true);
    qgicv3_its_sync(its);
}

void qgicv3_lpi_config(QGICv3ITS *its, uint32_t intid, bool enabled,
                       uint8_t prio)
{
    uint8_t prop = (prio & LPI_PROP_PRIO_MASK) |
                   (enabled ? LPI_PROP_ENABLED : 0);

    g_assert_cmpuint(intid, >=, GICV3_LPI_BASE);
    g_assert_cmpuint(intid >> (its->lpi_idbits + 1), ==, 0);
    qtest_writeb(its->qts, its->prop_table + intid - GICV3_LPI_BASE, prop);
}

void qgicv3_its_map_event(QGICv3ITS *its, uint32_t devid, uint32_t eventid,
                          uint32_t intid, uint16_t icid, uint8_t prio)
{
    qgicv3_lpi_config(its, intid, true, prio);
    qgicv3_its_mapti(its, devid, eventid, intid, icid);
    qgicv3_its_inv(its, devid, eventid);
    qgicv3_its_sync(its);
}

/*
 * Why the pending table is a reliable observable:
 *
 * QEMU's emulated GICv3 redistributor (hw/intc/arm_gicv3_redist.c) keeps
 * no private copy of the pending state of LPIs.  When the ITS translates
 * a write to GITS_TRANSLATER into an LPI, the redistributor sets the bit
 * of that LPI in the pending table in guest memory before the write
 * returns; it only caches which pending LPI has the highest priority.
 * The bit is cleared again only when a CPU acknowledges the LPI, by a
 * CLEAR or DISCARD command, or by a MOVI/MOVALL to another
 * redistributor.  Under the qtest accelerator no vCPU ever runs, and
 * the tests issue none of those commands behind the test's back, so a
 * set bit means that exactly that LPI was delivered to CPU 0, and a clear
 * bit means that it was not.
 */
bool qgicv3_lpi_pending(QGICv3ITS *its, uint32_t intid)
{
    uint8_t byte;

    g_assert_cmpuint(intid, >=, GICV3_LPI_BASE);
    g_assert_cmpuint(intid >> (its->lpi_idbits + 1), ==, 0);
    byte = qtest_readb(its->qts, its->pend_table + intid / 8);
    return byte & (1U << (intid % 8));
}

unsigned qgicv3_lpi_count_pending(QGICv3ITS *its)
{
    size_t first = GICV3_LPI_BASE / 8;
    size_t size = (1ULL << (its->lpi_idbits + 1)) / 8 - first;
    g_autofree uint8_t *buf = g_malloc(size);
    unsigned count = 0;
    size_t i;

    qtest_memread(its->qts, its->pend_table + first, buf, size);
    for (i = 0; i < size; i++) {
        count += ctpop8(buf[i]);
    }
    return count;
}
