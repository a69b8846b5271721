/*
 * QTest for the msix-testdev PCIe device
 *
 * The device's MSI-X vectors are aimed at its own sink BAR, which counts
 * every write, so that each test can check how many messages were
 * delivered, not only that some were.
 *
 * Copyright (c) 2026 The qemu-vmsix authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "hw/pci/pci_regs.h"
#include "hw/misc/msix-testdev-regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qjson.h"
#include "qapi/error.h"

#define TESTDEV_SLOT    4
#define TESTDEV_DEVFN   QPCI_DEVFN(TESTDEV_SLOT, 0)
#define TESTDEV_DATA    0xc0de0000
#define EVENTFD_WAIT_US (5 * G_USEC_PER_SEC)

typedef struct TestDev {
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIDevice *dev;
    QPCIBar bar[6];
    bool mapped[6];
    uint8_t cap;
    int table_bir, pba_bir;
    uint64_t table_off, pba_off;
    uint32_t vectors;
} TestDev;

static QPCIBar testdev_bar(TestDev *t, int bir)
{
    if (!t->mapped[bir]) {
        t->bar[bir] = qpci_iomap(t->dev, bir, NULL);
        t->mapped[bir] = true;
    }
    return t->bar[bir];
}

static void testdev_start(TestDev *t, const char *extra, const char *props)
{
    uint32_t val;

    memset(t, 0, sizeof(*t));
    t->qts = qtest_initf("-M virt,gic-version=3 -cpu max -nodefaults %s "
                         "-device msix-testdev,addr=%d.0%s%s",
                         extra ? extra : "", TESTDEV_SLOT,
                         props ? "," : "", props ? props : "");
    qpci_init_generic(&t->gbus, t->qts, NULL, false);
    t->dev = qpci_device_find(&t->gbus.bus, TESTDEV_DEVFN);
    g_assert(t->dev);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_VENDOR_ID), ==,
                    MSIX_TESTDEV_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_DEVICE_ID), ==,
                    MSIX_TESTDEV_DEVICE_ID);
    g_assert(qpci_find_capability(t->dev, PCI_CAP_ID_EXP, 0));

    /* Find the table and the PBA the way a driver does */
    t->cap = qpci_find_capability(t->dev, PCI_CAP_ID_MSIX, 0);
    g_assert_cmphex(t->cap, !=, 0);
    t->vectors = qpci_msix_table_size(t->dev);
    val = qpci_config_readl(t->dev, t->cap + PCI_MSIX_TABLE);
    t->table_bir = val & PCI_MSIX_TABLE_BIR;
    t->table_off = val & PCI_MSIX_TABLE_OFFSET;
    val = qpci_config_readl(t->dev, t->cap + PCI_MSIX_PBA);
    t->pba_bir = val & PCI_MSIX_PBA_BIR;
    t->pba_off = val & PCI_MSIX_PBA_OFFSET;

    testdev_bar(t, MSIX_TESTDEV_REG_BAR);
    testdev_bar(t, MSIX_TESTDEV_SINK_BAR);
    testdev_bar(t, t->table_bir);
    testdev_bar(t, t->pba_bir);
    qpci_device_enable(t->dev);

    g_assert_cmphex(qpci_io_readl(t->dev, t->bar[MSIX_TESTDEV_REG_BAR],
                                  MSIX_TESTDEV_REG_ID), ==,
                    MSIX_TESTDEV_ID_VALUE);
}

static void testdev_stop(TestDev *t)
{
    g_free(t->dev);
    qtest_quit(t->qts);
}

static uint32_t reg_read(TestDev *t, uint32_t off)
{
    return qpci_io_readl(t->dev, t->bar[MSIX_TESTDEV_REG_BAR], off);
}

static void reg_write(TestDev *t, uint32_t off, uint32_t val)
{
    qpci_io_writel(t->dev, t->bar[MSIX_TESTDEV_REG_BAR], off, val);
}

static uint32_t sink_read(TestDev *t, uint32_t off)
{
    return qpci_io_readl(t->dev, t->bar[MSIX_TESTDEV_SINK_BAR], off);
}

static uint32_t sink_slot(TestDev *t, uint32_t slot)
{
    return sink_read(t, MSIX_TESTDEV_SINK_SLOT(slot));
}

static uint32_t sink_total(TestDev *t)
{
    return sink_read(t, MSIX_TESTDEV_SINK_TOTAL);
}

static void msix_flags(TestDev *t, uint16_t set, uint16_t clear)
{
    uint16_t val = qpci_config_readw(t->dev, t->cap + PCI_MSIX_FLAGS);

    val = (val | set) & ~clear;
    qpci_config_writew(t->dev, t->cap + PCI_MSIX_FLAGS, val);
}

static uint64_t entry_off(TestDev *t, uint32_t vector)
{
    return t->table_off + vector * PCI_MSIX_ENTRY_SIZE;
}

static void vector_mask(TestDev *t, uint32_t vector, bool mask)
{
    qpci_io_writel(t->dev, t->bar[t->table_bir],
                   entry_off(t, vector) + PCI_MSIX_ENTRY_VECTOR_CTRL,
                   mask ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

/* Aim @vector at sink slot @vector, unmasked */
static void vector_program(TestDev *t, uint32_t vector)
{
    uint64_t addr = t->bar[MSIX_TESTDEV_SINK_BAR].addr +
                    MSIX_TESTDEV_SINK_SLOT(vector % MSIX_TESTDEV_SINK_SLOTS);
    QPCIBar table = t->bar[t->table_bir];
    uint64_t off = entry_off(t, vector);

    qpci_io_writel(t->dev, table, off + PCI_MSIX_ENTRY_LOWER_ADDR,
                   (uint32_t)addr);
    qpci_io_writel(t->dev, table, off + PCI_MSIX_ENTRY_UPPER_ADDR,
                   addr >> 32);
    qpci_io_writel(t->dev, table, off + PCI_MSIX_ENTRY_DATA,
                   TESTDEV_DATA + vector);
    vector_mask(t, vector, false);
}

/* Program every vector and enable MSI-X */
static void msix_setup(TestDev *t)
{
    uint32_t i;

    for (i = 0; i < t->vectors; i++) {
        vector_program(t, i);
    }
    msix_flags(t, PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL);
}

static bool pba_pending(TestDev *t, uint32_t vector)
{
    uint32_t word = qpci_io_readl(t->dev, t->bar[t->pba_bir],
                                  t->pba_off + (vector / 32) * 4);

    return word & (1u << (vector % 32));
}

static void raise_vector(TestDev *t, uint32_t vector)
{
    reg_write(t, MSIX_TESTDEV_REG_RAISE, vector);
}

/* Eventfd mode delivers from the main loop: poll until @slot has @count */
static void wait_slot(TestDev *t, uint32_t slot, uint32_t count)
{
    gint64 end = g_get_monotonic_time() + EVENTFD_WAIT_US;

    while (sink_slot(t, slot) < count && g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    g_assert_cmpuint(sink_slot(t, slot), ==, count);
}

static void wait_reg(TestDev *t, uint32_t reg, uint32_t val)
{
    gint64 end = g_get_monotonic_time() + EVENTFD_WAIT_US;

    while (reg_read(t, reg) < val && g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    g_assert_cmpuint(reg_read(t, reg), ==, val);
}

typedef struct LayoutCase {
    const char *name;
    uint32_t layout;
    uint32_t vectors;
} LayoutCase;

static void test_layout(const void *opaque)
{
    const LayoutCase *c = opaque;
    g_autofree char *props = g_strdup_printf("layout=%s,vectors=%u",
                                             c->name, c->vectors);
    uint32_t table_size, i, last = c->vectors - 1;
    TestDev t;

    testdev_start(&t, NULL, props);
    g_assert_cmpuint(t.vectors, ==, c->vectors);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_VECTORS), ==, c->vectors);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_FEATURES) &
                     MSIX_TESTDEV_FEAT_LAYOUT_MASK, ==, c->layout);

    table_size = c->vectors * PCI_MSIX_ENTRY_SIZE;
    switch (c->layout) {
    case MSIX_TESTDEV_LAYOUT_OWN_BAR:
        g_assert_cmpint(t.table_bir, ==, MSIX_TESTDEV_MSIX_BAR);
        g_assert_cmpint(t.pba_bir, ==, MSIX_TESTDEV_MSIX_BAR);
        g_assert_cmpuint(t.pba_off / 4096, >, (t.table_off + table_size - 1) /
                         4096);
        break;
    case MSIX_TESTDEV_LAYOUT_SHARED_BAR:
        g_assert_cmpint(t.table_bir, ==, MSIX_TESTDEV_REG_BAR);
        g_assert_cmpint(t.pba_bir, ==, MSIX_TESTDEV_REG_BAR);
        break;
    case MSIX_TESTDEV_LAYOUT_SAME_PAGE:
        g_assert_cmpint(t.table_bir, ==, t.pba_bir);
        g_assert_cmpuint(t.table_off / 4096, ==, t.pba_off / 4096);
        break;
    case MSIX_TESTDEV_LAYOUT_SPLIT_BAR:
        g_assert_cmpint(t.table_bir, ==, MSIX_TESTDEV_MSIX_BAR);
        g_assert_cmpint(t.pba_bir, ==, MSIX_TESTDEV_PBA_BAR);
        break;
    default:
        g_assert_not_reached();
    }

    msix_setup(&t);

    /* One vector: one write with its data and this device's requester id */
    raise_vector(&t, last);
    g_assert_cmpuint(sink_slot(&t, last), ==, 1);
    g_assert_cmpuint(sink_total(&t), ==, 1);
    g_assert_cmphex(sink_read(&t, MSIX_TESTDEV_SINK_LAST_DATA), ==,
                    TESTDEV_DATA + last);
    g_assert_cmphex(sink_read(&t, MSIX_TESTDEV_SINK_LAST_RID), ==,
                    TESTDEV_DEVFN);
    g_assert_cmpuint(sink_read(&t, MSIX_TESTDEV_SINK_LAST_SLOT), ==, last);

    /* A range */
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_FIRST, 0);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_COUNT, MIN(c->vectors, 3));
    for (i = 0; i < MIN(c->vectors, 3); i++) {
        g_assert_cmpuint(sink_slot(&t, i), ==, i == last ? 2 : 1);
    }

    /* All of them */
    qpci_io_writel(t.dev, t.bar[MSIX_TESTDEV_SINK_BAR],
                   MSIX_TESTDEV_SINK_RESET, 1);
    g_assert_cmpuint(sink_total(&t), ==, 0);
    reg_write(&t, MSIX_TESTDEV_REG_RAISE_ALL, 1);
    g_assert_cmpuint(sink_total(&t), ==, c->vectors);
    for (i = 0; i < c->vectors; i++) {
        g_assert_cmpuint(sink_slot(&t, i), ==, 1);
        g_assert_false(pba_pending(&t, i));
    }
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_TOTAL), ==,
                     1 + MIN(c->vectors, 3) + c->vectors);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_DISABLED), ==, 0);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_BAD_INPUT), ==, 0);

    testdev_stop(&t);
}

/*
 * Raise a masked vector twice: the PBA bit is set and nothing is
 * delivered; unmasking delivers exactly one message.  @function picks
 * the function mask instead of the vector's own mask bit.
 */
static void check_masked_raise(TestDev *t, uint32_t v, bool function,
                               bool eventfd)
{
    uint32_t before = sink_slot(t, v);
    uint32_t masked = reg_read(t, MSIX_TESTDEV_REG_RAISE_MASKED);

    if (function) {
        msix_flags(t, PCI_MSIX_FLAGS_MASKALL, 0);
    } else {
        vector_mask(t, v, true);
    }

    raise_vector(t, v);
    if (eventfd) {
        wait_reg(t, MSIX_TESTDEV_REG_RAISE_MASKED, masked + 1);
    }
    raise_vector(t, v);
    if (eventfd) {
        wait_reg(t, MSIX_TESTDEV_REG_RAISE_MASKED, masked + 2);
    }
    g_assert_cmpuint(reg_read(t, MSIX_TESTDEV_REG_RAISE_MASKED), ==,
                     masked + 2);
    g_assert_true(pba_pending(t, v));
    g_assert_cmpuint(sink_slot(t, v), ==, before);

    if (function) {
        msix_flags(t, 0, PCI_MSIX_FLAGS_MASKALL);
    } else {
        vector_mask(t, v, false);
    }
    if (eventfd) {
        /* The replay goes through the eventfd and the main loop */
        wait_slot(t, v, before + 1);
    }
    g_assert_cmpuint(sink_slot(t, v), ==, before + 1);
    g_assert_false(pba_pending(t, v));
    g_assert_cmpuint(sink_slot(t, v), ==, before + 1);

    /* Back to normal: one raise, one message */
    raise_vector(t, v);
    if (eventfd) {
        wait_slot(t, v, before + 2);
    }
    g_assert_cmpuint(sink_slot(t, v), ==, before + 2);
}

static void test_mask_vector(void)
{
    TestDev t;

    testdev_start(&t, NULL, NULL);
    msix_setup(&t);
    check_masked_raise(&t, 3, false, false);
    /* Other vectors are untouched */
    g_assert_cmpuint(sink_total(&t), ==, 2);
    testdev_stop(&t);
}

static void test_mask_function(void)
{
    TestDev t;

    testdev_start(&t, NULL, "layout=shared-bar");
    msix_setup(&t);
    check_masked_raise(&t, 7, true, false);
    g_assert_cmpuint(sink_total(&t), ==, 2);
    testdev_stop(&t);
}

static void test_all_vectors(void)
{
    TestDev t;
    uint32_t i;

    testdev_start(&t, NULL, "vectors=2048");
    g_assert_cmpuint(t.vectors, ==, 2048);
    msix_setup(&t);

    for (i = 0; i < t.vectors; i++) {
        raise_vector(&t, i);
    }
    g_assert_cmpuint(sink_total(&t), ==, 2048);
    for (i = 0; i < t.vectors; i++) {
        g_assert_cmpuint(sink_slot(&t, i), ==, 1);
        reg_write(&t, MSIX_TESTDEV_REG_VEC_SEL, i);
        g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_VEC_COUNT), ==, 1);
    }
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_TOTAL), ==, 2048);

    /* The highest vector through the mask and PBA path too */
    check_masked_raise(&t, 2047, false, false);
    testdev_stop(&t);
}

static void test_disabled(void)
{
    TestDev t;
    uint32_t i;

    testdev_start(&t, NULL, NULL);
    msix_setup(&t);
    msix_flags(&t, 0, PCI_MSIX_FLAGS_ENABLE);

    raise_vector(&t, 1);
    reg_write(&t, MSIX_TESTDEV_REG_RAISE_ALL, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_DISABLED), ==,
                     1 + t.vectors);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_TOTAL), ==,
                     1 + t.vectors);
    g_assert_cmpuint(sink_total(&t), ==, 0);

    /* Nothing was left pending: enabling delivers nothing */
    msix_flags(&t, PCI_MSIX_FLAGS_ENABLE, 0);
    for (i = 0; i < t.vectors; i++) {
        g_assert_false(pba_pending(&t, i));
    }
    g_assert_cmpuint(sink_total(&t), ==, 0);

    raise_vector(&t, 1);
    g_assert_cmpuint(sink_slot(&t, 1), ==, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_DISABLED), ==,
                     1 + t.vectors);
    testdev_stop(&t);
}

static void test_eventfd(void)
{
    TestDev t;
    uint32_t i;

    testdev_start(&t, NULL, "eventfd=on,vectors=32");
    g_assert_true(reg_read(&t, MSIX_TESTDEV_REG_FEATURES) &
                  MSIX_TESTDEV_FEAT_EVENTFD);
    g_assert_true(reg_read(&t, MSIX_TESTDEV_REG_FEATURES) &
                  MSIX_TESTDEV_FEAT_CONSUMER);
    msix_setup(&t);

    raise_vector(&t, 2);
    wait_slot(&t, 2, 1);
    for (i = 0; i < 20; i++) {
        g_usleep(1000);
        g_assert_cmpuint(sink_total(&t), ==, 1);
    }

    check_masked_raise(&t, 4, false, true);
    check_masked_raise(&t, 5, true, true);

    reg_write(&t, MSIX_TESTDEV_REG_RANGE_FIRST, 16);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_COUNT, 16);
    for (i = 16; i < 32; i++) {
        wait_slot(&t, i, 1);
    }

    msix_flags(&t, 0, PCI_MSIX_FLAGS_ENABLE);
    raise_vector(&t, 9);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_DISABLED), ==, 1);
    g_usleep(20 * 1000);
    g_assert_cmpuint(sink_slot(&t, 9), ==, 0);
    g_assert_cmpuint(sink_total(&t), ==, 1 + 2 + 2 + 16);
    testdev_stop(&t);
}

/* After a reset the BARs are unassigned: map them again, like firmware */
static void testdev_remap(TestDev *t)
{
    memset(t->mapped, 0, sizeof(t->mapped));
    testdev_bar(t, MSIX_TESTDEV_REG_BAR);
    testdev_bar(t, MSIX_TESTDEV_SINK_BAR);
    testdev_bar(t, t->table_bir);
    testdev_bar(t, t->pba_bir);
    qpci_device_enable(t->dev);
}

/*
 * A reset drops what a masked vector latched: the guest finds an empty
 * PBA, and unmasking the vector after enabling MSI-X again delivers
 * nothing until the device raises it again.
 */
static void test_eventfd_reset(void)
{
    TestDev t;

    testdev_start(&t, NULL, "eventfd=on,vectors=8");
    msix_setup(&t);
    vector_mask(&t, 3, true);
    raise_vector(&t, 3);
    raise_vector(&t, 3);
    /*
     * No PBA read here: it would move the latched interrupt into the PBA,
     * which the MSI-X core clears on reset.  Left in the eventfd or the
     * poller's bitmap, it is for the eventfd layer to drop.
     */
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_MASKED), ==, 2);

    qtest_qmp_assert_success(t.qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(t.qts, "RESET");
    testdev_remap(&t);
    g_assert_false(qpci_config_readw(t.dev, t.cap + PCI_MSIX_FLAGS) &
                   PCI_MSIX_FLAGS_ENABLE);

    msix_setup(&t);
    /*
     * Vector 5 as a barrier: a replay of vector 3 would have been
     * signalled before vector 5's raise, and the main loop serves both
     * eventfds in the same pass.
     */
    raise_vector(&t, 5);
    wait_slot(&t, 5, 1);
    g_assert_cmpuint(sink_slot(&t, 3), ==, 0);
    g_assert_false(pba_pending(&t, 3));

    raise_vector(&t, 3);
    wait_slot(&t, 3, 1);
    g_assert_cmpuint(sink_total(&t), ==, 2);
    testdev_stop(&t);
}

/*
 * The threads of the QEMU under test named @name (all of them if NULL),
 * from /proc/PID/task.  With -name debug-threads=on each thread's comm
 * is the name QEMU gave it.
 */
static unsigned qemu_threads(QTestState *qts, const char *name)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task",
                                           (int)qtest_pid(qts));
    g_autoptr(GError) err = NULL;
    GDir *d = g_dir_open(dir, 0, &err);
    const char *tid;
    unsigned n = 0;

    g_assert_no_error(err);
    while ((tid = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("%s/%s/comm", dir, tid);
        g_autofree char *comm = NULL;

        if (!name) {
            n++;
        } else if (g_file_get_contents(path, &comm, NULL, NULL)) {
            /* (a thread that has just exited has no comm any more) */
            n += !strcmp(g_strchomp(comm), name);
        }
    }
    g_dir_close(d);
    return n;
}

/*
 * Wait until the QEMU under test has @want threads named @name (all of
 * them with NULL).  A thread is in /proc from the moment it is created
 * (so from before device_add returns), but the thread that joins it can
 * run on before the kernel has finished its exit and dropped it from
 * /proc, and a new thread takes its name only once it runs: both
 * directions are polled.
 */
static void wait_threads(QTestState *qts, const char *name, unsigned want)
{
    gint64 end = g_get_monotonic_time() + EVENTFD_WAIT_US;

    while (qemu_threads(qts, name) != want && g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    g_assert_cmpuint(qemu_threads(qts, name), ==, want);
}

/*
 * x-query-msix lists @want devices (0 or td0); asking for td0 finds it
 * only when it is there
 */
static void check_query_lists(QTestState *qts, unsigned want)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'x-query-msix'}");
    QList *list = qdict_get_qlist(rsp, "return");

    g_assert_cmpuint(qlist_size(list), ==, want);
    if (want) {
        QDict *dev = qobject_to(QDict, qlist_peek(list));

        g_assert_cmpstr(qdict_get_str(dev, "id"), ==, "td0");
        g_assert_cmpuint(qdict_get_int(dev, "vectors"), ==, 64);
    }
    qobject_unref(rsp);
    rsp = qtest_qmp(qts, "{'execute': 'x-query-msix', "
                    "'arguments': {'device': 'td0'}}");
    g_assert_cmpint(qdict_haskey(rsp, "error"), ==, !want);
    qobject_unref(rsp);
}

/*
 * Hot-plug and hot-unplug in eventfd mode: each device starts its poller
 * thread at realize and must stop and join it at unrealize, so every
 * device_add adds one thread, named msix-poller, and every device_del
 * takes it away again.  The slot is powered off (no guest), so device_del
 * unplugs at once.
 */
static void test_eventfd_hotplug(void)
{
    QTestState *qts;
    unsigned base;
    int i;

    qts = qtest_init("-name debug-threads=on "
                     "-M virt,gic-version=3 -cpu max -nodefaults "
                     "-device pcie-root-port,id=rp0,chassis=1,addr=5.0");
    g_assert_cmpint(qtest_pid(qts), >, 0);
    base = qemu_threads(qts, NULL);
    g_test_message("QEMU (pid %d) has %u threads", (int)qtest_pid(qts),
                   base);
    g_assert_cmpuint(qemu_threads(qts, "msix-poller"), ==, 0);
    for (i = 0; i < 10; i++) {
        qtest_qmp_device_add(qts, "msix-testdev", "td0",
                             "{'bus': 'rp0', 'eventfd': true, "
                             "'vectors': 64}");
        wait_threads(qts, "msix-poller", 1);
        g_assert_cmpuint(qemu_threads(qts, NULL), ==, base + 1);
        check_query_lists(qts, 1);
        qtest_qmp_device_del(qts, "td0");
        wait_threads(qts, "msix-poller", 0);
        wait_threads(qts, NULL, base);
        /* Gone from x-query-msix too, not left behind freed */
        check_query_lists(qts, 0);
    }
    qtest_quit(qts);
}

static void test_auto(void)
{
    TestDev t;

    testdev_start(&t, NULL, NULL);
    msix_setup(&t);

    /* Rejected: period too short, range out of bounds */
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_FIRST, 2);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_COUNT, 3);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_PERIOD, 1);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_CTRL, MSIX_TESTDEV_AUTO_RUN);
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_AUTO_CTRL), ==, 0);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_PERIOD, 100);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_COUNT, t.vectors);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_CTRL, MSIX_TESTDEV_AUTO_RUN);
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_AUTO_CTRL), ==, 0);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_BAD_INPUT), ==, 2);

    /* Vectors 2..4 every 100 us of virtual time */
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_COUNT, 3);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_CTRL, MSIX_TESTDEV_AUTO_RUN);
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_AUTO_CTRL), ==,
                    MSIX_TESTDEV_AUTO_RUN);
    g_assert_cmpuint(sink_total(&t), ==, 0);
    qtest_clock_step(t.qts, 1000 * 1000);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_AUTO_TICKS), ==, 10);
    g_assert_cmpuint(sink_slot(&t, 1), ==, 0);
    g_assert_cmpuint(sink_slot(&t, 2), ==, 10);
    g_assert_cmpuint(sink_slot(&t, 3), ==, 10);
    g_assert_cmpuint(sink_slot(&t, 4), ==, 10);
    g_assert_cmpuint(sink_slot(&t, 5), ==, 0);
    g_assert_cmpuint(sink_total(&t), ==, 30);

    reg_write(&t, MSIX_TESTDEV_REG_AUTO_CTRL, 0);
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_AUTO_CTRL), ==, 0);
    qtest_clock_step(t.qts, 1000 * 1000);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_AUTO_TICKS), ==, 10);
    g_assert_cmpuint(sink_total(&t), ==, 30);
    testdev_stop(&t);
}

static void test_msi(void)
{
    TestDev t;
    uint8_t cap;
    uint64_t addr;
    uint16_t flags;

    testdev_start(&t, NULL, "msi=on");
    g_assert_true(reg_read(&t, MSIX_TESTDEV_REG_FEATURES) &
                  MSIX_TESTDEV_FEAT_MSI);
    cap = qpci_find_capability(t.dev, PCI_CAP_ID_MSI, 0);
    g_assert_cmphex(cap, !=, 0);
    flags = qpci_config_readw(t.dev, cap + PCI_MSI_FLAGS);
    g_assert_true(flags & PCI_MSI_FLAGS_64BIT);

    addr = t.bar[MSIX_TESTDEV_SINK_BAR].addr + MSIX_TESTDEV_SINK_SLOT(100);
    qpci_config_writel(t.dev, cap + PCI_MSI_ADDRESS_LO, (uint32_t)addr);
    qpci_config_writel(t.dev, cap + PCI_MSI_ADDRESS_HI, addr >> 32);
    qpci_config_writew(t.dev, cap + PCI_MSI_DATA_64, 0x55);

    /* Disabled: nothing */
    reg_write(&t, MSIX_TESTDEV_REG_MSI_RAISE, 0);
    g_assert_cmpuint(sink_total(&t), ==, 0);

    qpci_config_writew(t.dev, cap + PCI_MSI_FLAGS,
                       flags | PCI_MSI_FLAGS_ENABLE);
    reg_write(&t, MSIX_TESTDEV_REG_MSI_RAISE, 0);
    g_assert_cmpuint(sink_slot(&t, 100), ==, 1);
    g_assert_cmphex(sink_read(&t, MSIX_TESTDEV_SINK_LAST_DATA), ==, 0x55);

    /* MSI has one vector only */
    reg_write(&t, MSIX_TESTDEV_REG_MSI_RAISE, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_BAD_INPUT), ==, 1);
    g_assert_cmpuint(sink_total(&t), ==, 1);

    /* INTx level is readable back */
    reg_write(&t, MSIX_TESTDEV_REG_INTX, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_INTX), ==, 1);
    reg_write(&t, MSIX_TESTDEV_REG_INTX, 0);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_INTX), ==, 0);
    testdev_stop(&t);
}

static void test_bad_input(void)
{
    g_autofree char *log = NULL;
    g_autofree char *contents = NULL;
    g_autofree char *extra = NULL;
    uint64_t regs, sink;
    TestDev t;
    int fd;

    fd = g_file_open_tmp("msix-testdev-XXXXXX.log", &log, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    extra = g_strdup_printf("-d guest_errors,invalid_mem -D %s", log);

    testdev_start(&t, extra, "vectors=16");
    msix_setup(&t);
    regs = t.bar[MSIX_TESTDEV_REG_BAR].addr;
    sink = t.bar[MSIX_TESTDEV_SINK_BAR].addr;

    /* Out of range vectors, counted as bad input, nothing delivered */
    raise_vector(&t, 16);
    raise_vector(&t, 0xffffffff);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_FIRST, 10);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_COUNT, 7);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_FIRST, 0xfffffff0);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_COUNT, 0x20);
    reg_write(&t, MSIX_TESTDEV_REG_RANGE_COUNT, 0);
    reg_write(&t, MSIX_TESTDEV_REG_VEC_SEL, 99);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_VEC_COUNT), ==, 0);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_BAD_INPUT), ==, 6);

    /* Unknown offsets and read-only registers */
    g_assert_cmphex(reg_read(&t, 0x800), ==, 0);
    reg_write(&t, 0xffc, 1);
    reg_write(&t, MSIX_TESTDEV_REG_RAISE_TOTAL, 1);
    g_assert_cmphex(sink_read(&t, 0x3000), ==, 0);
    qpci_io_writel(t.dev, t.bar[MSIX_TESTDEV_SINK_BAR], 0x2ffc, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_BAD_INPUT), ==, 11);

    /*
     * Wrong sizes and unaligned accesses never reach the device.  (qtest
     * splits 8-byte accesses into 4-byte ones, as the memory core does
     * for any access wider than a region accepts, so they are not tried.)
     */
    qtest_writeb(t.qts, regs + MSIX_TESTDEV_REG_RAISE, 1);
    qtest_writew(t.qts, regs + MSIX_TESTDEV_REG_RAISE, 1);
    qtest_writel(t.qts, regs + MSIX_TESTDEV_REG_RAISE + 1, 1);
    qtest_writel(t.qts, regs + MSIX_TESTDEV_REG_RAISE + 2, 1);
    qtest_readb(t.qts, regs + MSIX_TESTDEV_REG_ID);
    qtest_readw(t.qts, regs + MSIX_TESTDEV_REG_ID + 2);
    qtest_writeb(t.qts, sink + 1, 1);
    qtest_writew(t.qts, sink + 2, 1);
    qtest_writel(t.qts, sink + 6, 1);

    /* Still alive, nothing raised, nothing counted by the sink */
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_ID), ==,
                    MSIX_TESTDEV_ID_VALUE);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_TOTAL), ==, 0);
    g_assert_cmpuint(sink_total(&t), ==, 0);
    raise_vector(&t, 15);
    g_assert_cmpuint(sink_slot(&t, 15), ==, 1);
    testdev_stop(&t);

    g_assert_true(g_file_get_contents(log, &contents, NULL, NULL));
    g_assert_nonnull(strstr(contents, "msix-testdev: RAISE: vectors 16+1 "
                            "out of range (16 vectors)"));
    g_assert_nonnull(strstr(contents, "msix-testdev: RANGE_COUNT: vectors "
                            "10+7 out of range"));
    g_assert_nonnull(strstr(contents, "msix-testdev: read of unknown "
                            "register 0x800"));
    g_assert_nonnull(strstr(contents, "msix-testdev: write to read-only "
                            "register 0x20"));
    g_assert_nonnull(strstr(contents, "region 'msix-testdev-regs', reason: "
                            "invalid size"));
    g_assert_nonnull(strstr(contents, "region 'msix-testdev-sink', reason: "
                            "invalid size"));
    unlink(log);
}

static void wait_migration(QTestState *qts)
{
    gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    bool done = false;

    while (!done) {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *status = qdict_get_try_str(ret, "status");

        g_assert_cmpstr(status, !=, "failed");
        done = !g_strcmp0(status, "completed");
        qobject_unref(rsp);
        if (!done) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            g_usleep(10 * 1000);
        }
    }
}

/*
 * Migrate a device with a pending vector, counters and a running
 * automatic raiser; the destination must carry on where the source was.
 */
/*
 * Migrate @t's machine to a new one, with the same device properties
 * @props, through a file.
 */
static void migrate_through_file(TestDev *t, const char *props)
{
    g_autofree char *file = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *extra = NULL;
    QTestState *src = t->qts;
    int fd;

    fd = g_file_open_tmp("msix-testdev-XXXXXX.mig", &file, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);

    uri = g_strdup_printf("file:%s", file);
    qtest_qmp_assert_success(src, "{ 'execute': 'migrate', 'arguments': "
                             "{ 'uri': %s } }", uri);
    wait_migration(src);
    qtest_quit(src);

    extra = g_strdup_printf("-incoming %s", uri);
    t->qts = qtest_initf("-M virt,gic-version=3 -cpu max -nodefaults %s "
                         "-device msix-testdev,addr=%d.0,%s",
                         extra, TESTDEV_SLOT, props);
    t->gbus.bus.qts = t->qts;
    wait_migration(t->qts);
    unlink(file);
}

/*
 * Eventfd mode: raises of a masked vector that nobody looked at yet (no
 * PBA read on the source) are in the saved PBA, and arrive once.
 */
static void test_migration_eventfd(void)
{
    const char *props = "vectors=64,eventfd=on";
    TestDev t;

    testdev_start(&t, NULL, props);
    msix_setup(&t);
    vector_mask(&t, 40, true);
    raise_vector(&t, 40);
    raise_vector(&t, 40);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_MASKED), ==, 2);

    migrate_through_file(&t, props);

    g_assert_true(pba_pending(&t, 40));
    g_assert_cmpuint(sink_slot(&t, 40), ==, 0);
    vector_mask(&t, 40, false);
    wait_slot(&t, 40, 1);
    g_assert_false(pba_pending(&t, 40));
    g_assert_cmpuint(sink_total(&t), ==, 1);
    testdev_stop(&t);
}

static void test_migration(void)
{
    const char *props = "vectors=64,layout=same-page";
    uint32_t ticks;
    TestDev t;

    testdev_start(&t, NULL, props);
    msix_setup(&t);
    raise_vector(&t, 1);
    vector_mask(&t, 40, true);
    raise_vector(&t, 40);
    g_assert_true(pba_pending(&t, 40));
    reg_write(&t, MSIX_TESTDEV_REG_VEC_SEL, 40);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_FIRST, 60);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_COUNT, 2);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_PERIOD, 100);
    reg_write(&t, MSIX_TESTDEV_REG_AUTO_CTRL, MSIX_TESTDEV_AUTO_RUN);
    qtest_clock_step(t.qts, 250 * 1000);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_AUTO_TICKS), ==, 2);

    migrate_through_file(&t, props);

    g_assert_cmpuint(sink_slot(&t, 1), ==, 1);
    g_assert_cmpuint(sink_slot(&t, 40), ==, 0);
    g_assert_cmpuint(sink_slot(&t, 60), ==, 2);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_VEC_SEL), ==, 40);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_VEC_COUNT), ==, 1);
    g_assert_cmpuint(reg_read(&t, MSIX_TESTDEV_REG_RAISE_MASKED), ==, 1);
    g_assert_true(pba_pending(&t, 40));

    /* The pended vector arrives once on the destination */
    vector_mask(&t, 40, false);
    g_assert_cmpuint(sink_slot(&t, 40), ==, 1);
    g_assert_false(pba_pending(&t, 40));

    /* The automatic raiser still runs */
    g_assert_cmphex(reg_read(&t, MSIX_TESTDEV_REG_AUTO_CTRL), ==,
                    MSIX_TESTDEV_AUTO_RUN);
    qtest_clock_step(t.qts, 1000 * 1000);
    ticks = reg_read(&t, MSIX_TESTDEV_REG_AUTO_TICKS);
    g_assert_cmpuint(ticks, >, 2);
    g_assert_cmpuint(sink_slot(&t, 60), ==, ticks);
    g_assert_cmpuint(sink_slot(&t, 61), ==, ticks);
    testdev_stop(&t);
}

/* device_add of msix-testdev with @args must fail with @msg */
static void check_device_add_error(QTestState *qts, QDict *args,
                                   const char *msg)
{
    QDict *resp, *error;
    const char *desc;

    qdict_put_str(args, "driver", "msix-testdev");
    qdict_put_str(args, "bus", "rp");
    resp = qtest_qmp(qts, "{ 'execute': 'device_add', 'arguments': %p }",
                     args);
    error = qdict_get_qdict(resp, "error");
    g_assert_nonnull(error);
    desc = qdict_get_str(error, "desc");
    g_test_message("device_add: %s", desc);
    g_assert_nonnull(strstr(desc, msg));
    qobject_unref(resp);
}

static void test_bad_properties(void)
{
    QTestState *qts;
    QDict *args;

    qts = qtest_init("-M virt,gic-version=3 -cpu max -nodefaults "
                     "-device pcie-root-port,id=rp,chassis=1");

    args = qdict_new();
    qdict_put_int(args, "vectors", 0);
    check_device_add_error(qts, args,
                           "vectors must be between 1 and 2048, not 0");

    args = qdict_new();
    qdict_put_int(args, "vectors", 4096);
    check_device_add_error(qts, args,
                           "vectors must be between 1 and 2048, not 4096");

    args = qdict_new();
    qdict_put_str(args, "layout", "upside-down");
    check_device_add_error(qts, args, "invalid layout 'upside-down'");

    args = qdict_new();
    qdict_put_int(args, "x-fake-kvm-routes", 4);
    check_device_add_error(qts, args, "x-fake-kvm-routes needs eventfd=on");

    qtest_quit(qts);
}

/*
 * x-query-msix: the answer for @device (NULL: all) and the range, as a
 * list of devices; the caller unrefs @rsp.  @first and @count are left
 * out when negative.
 */
static QList *query_msix(QTestState *qts, const char *device, int64_t first,
                         int64_t count, QDict **rsp)
{
    QDict *args = qdict_new();

    if (device) {
        qdict_put_str(args, "device", device);
    }
    if (first >= 0) {
        qdict_put_int(args, "first", first);
    }
    if (count >= 0) {
        qdict_put_int(args, "count", count);
    }
    *rsp = qtest_qmp(qts, "{'execute': 'x-query-msix', 'arguments': %p}",
                     args);
    g_assert_false(qdict_haskey(*rsp, "error"));
    return qdict_get_qlist(*rsp, "return");
}

/* x-query-msix with these arguments fails with @class and @msg */
static void query_msix_error(QTestState *qts, const char *args,
                             const char *class, const char *msg)
{
    QObject *obj = qobject_from_json(args, &error_abort);
    QDict *rsp = qtest_qmp(qts, "{'execute': 'x-query-msix', "
                           "'arguments': %p}", obj);
    QDict *error = qdict_get_qdict(rsp, "error");

    g_assert_nonnull(error);
    g_test_message("x-query-msix %s: %s", args,
                   qdict_get_str(error, "desc"));
    g_assert_cmpstr(qdict_get_str(error, "class"), ==, class);
    g_assert_nonnull(strstr(qdict_get_str(error, "desc"), msg));
    qobject_unref(rsp);
}

/* Members that may exceed INT64_MAX (addresses, counters) */
static uint64_t dict_uint(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));

    g_assert_nonnull(n);
    return qnum_get_uint(n);
}

static QDict *list_nth(QList *list, unsigned n)
{
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        if (!n--) {
            return qobject_to(QDict, qlist_entry_obj(e));
        }
    }
    g_assert_not_reached();
}

/* The query of td0 alone: its device dictionary, held by *@rsp */
static QDict *query_td0(TestDev *t, QDict **rsp)
{
    QList *list = query_msix(t->qts, "td0", -1, -1, rsp);

    g_assert_cmpuint(qlist_size(list), ==, 1);
    return list_nth(list, 0);
}

static QDict *vec_of(QDict *dev, unsigned vector)
{
    QDict *v = list_nth(qdict_get_qlist(dev, "vector-list"), vector);

    g_assert_cmpuint(qdict_get_int(v, "vector"), ==, vector);
    return v;
}

static uint64_t counter_of(QDict *v, const char *name)
{
    return dict_uint(qdict_get_qdict(v, "counters"), name);
}

/* Check vector @vector of td0: state, guest mask and pending bits */
static QDict *check_vector(QDict *dev, unsigned vector, const char *state,
                           bool masked, bool pending)
{
    QDict *v = vec_of(dev, vector);

    g_assert_cmpstr(qdict_get_str(v, "state"), ==, state);
    g_assert_cmpint(qdict_get_bool(v, "masked"), ==, masked);
    g_assert_cmpint(qdict_get_bool(v, "pending"), ==, pending);
    return v;
}

/*
 * delivered + coalesced + dropped + pending = raised, for a vector QEMU
 * serves, and the counters are what the test did to the vector
 */
static void check_counters(QDict *v, uint64_t raised, uint64_t latched,
                           uint64_t replayed, uint64_t delivered)
{
    uint64_t pending = counter_of(v, "pending");

    g_assert_cmpint(qdict_get_bool(v, "pending"), ==, pending > 0);
    g_assert_cmpuint(counter_of(v, "latched"), ==, latched);
    g_assert_cmpuint(counter_of(v, "replayed"), ==, replayed);
    g_assert_cmpuint(counter_of(v, "delivered"), ==, delivered);
    g_assert_cmpuint(counter_of(v, "delivered") +
                     counter_of(v, "coalesced") +
                     counter_of(v, "dropped") + pending, ==, raised);
    g_assert_cmpuint(counter_of(v, "failures"), ==, 0);
    g_assert_cmpuint(counter_of(v, "fallbacks"), ==, 0);
}

/*
 * Under TCG the main loop serves unmasked vectors and the poller masked
 * ones: the query's states follow the guest's masks and MSI-X enable,
 * its pending bits the PBA, and its counters the raises, exactly.
 */
static void test_query_counters(void)
{
    uint64_t sink = 0;
    QDict *rsp, *dev, *v;
    TestDev t;
    unsigned i;

    testdev_start(&t, NULL, "id=td0,eventfd=on,vectors=8");
    sink = t.bar[MSIX_TESTDEV_SINK_BAR].addr;

    /* MSI-X off: INTx, and every vector waits masked for the guest */
    dev = query_td0(&t, &rsp);
    g_assert_cmpstr(qdict_get_str(dev, "id"), ==, "td0");
    g_assert_cmpstr(qdict_get_str(dev, "qom-path"), ==,
                    "/machine/peripheral/td0");
    g_assert_cmpstr(qdict_get_str(dev, "driver"), ==, "msix-testdev");
    g_assert_cmpstr(qdict_get_str(dev, "mode"), ==, "intx");
    g_assert_false(qdict_get_bool(dev, "engine"));
    g_assert_false(qdict_haskey(dev, "host"));
    g_assert_cmpuint(qdict_get_int(dev, "vectors"), ==, 8);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 8);
    for (i = 0; i < 8; i++) {
        check_vector(dev, i, "masked", true, false);
    }
    qobject_unref(rsp);

    msix_setup(&t);
    dev = query_td0(&t, &rsp);
    g_assert_cmpstr(qdict_get_str(dev, "mode"), ==, "msix");
    g_assert_false(qdict_get_bool(dev, "function-masked"));
    for (i = 0; i < 8; i++) {
        v = check_vector(dev, i, "userspace", false, false);
        g_assert_cmphex(dict_uint(v, "address"), ==,
                        sink + MSIX_TESTDEV_SINK_SLOT(i));
        g_assert_cmphex(dict_uint(v, "data"), ==, TESTDEV_DATA + i);
        g_assert_false(qdict_haskey(v, "virq"));
        g_assert_false(qdict_haskey(v, "device-id"));
        check_counters(v, 0, 0, 0, 0);
    }
    qobject_unref(rsp);

    /* Three raises, three MSIs from the main loop */
    for (i = 1; i <= 3; i++) {
        raise_vector(&t, 2);
        wait_slot(&t, 2, i);
    }
    dev = query_td0(&t, &rsp);
    check_counters(check_vector(dev, 2, "userspace", false, false),
                   3, 0, 0, 3);
    qobject_unref(rsp);

    /* Masked: latched and pending, as the PBA says; nothing delivered */
    vector_mask(&t, 4, true);
    raise_vector(&t, 4);
    raise_vector(&t, 4);
    dev = query_td0(&t, &rsp);
    check_counters(check_vector(dev, 4, "masked", true, true), 2, 2, 0, 0);
    qobject_unref(rsp);
    g_assert_true(pba_pending(&t, 4));
    g_assert_cmpuint(sink_slot(&t, 4), ==, 0);

    /* Unmasked: one replay for both, and the PBA clears */
    vector_mask(&t, 4, false);
    wait_slot(&t, 4, 1);
    g_assert_false(pba_pending(&t, 4));
    dev = query_td0(&t, &rsp);
    v = check_vector(dev, 4, "userspace", false, false);
    check_counters(v, 2, 2, 1, 1);
    g_assert_cmpuint(counter_of(v, "coalesced"), ==, 1);
    qobject_unref(rsp);

    /* The function mask: every vector masked, none by its own bit */
    msix_flags(&t, PCI_MSIX_FLAGS_MASKALL, 0);
    raise_vector(&t, 5);
    g_assert_true(pba_pending(&t, 5));
    dev = query_td0(&t, &rsp);
    g_assert_true(qdict_get_bool(dev, "function-masked"));
    for (i = 0; i < 8; i++) {
        check_vector(dev, i, "masked", false, i == 5);
    }
    check_counters(vec_of(dev, 5), 1, 1, 0, 0);
    qobject_unref(rsp);
    msix_flags(&t, 0, PCI_MSIX_FLAGS_MASKALL);
    wait_slot(&t, 5, 1);
    dev = query_td0(&t, &rsp);
    g_assert_false(qdict_get_bool(dev, "function-masked"));
    check_counters(check_vector(dev, 5, "userspace", false, false),
                   1, 1, 1, 1);

    /* The totals add up every vector: 2, 4 and 5 */
    v = qdict_get_qdict(dev, "totals");
    g_assert_cmpuint(dict_uint(v, "delivered"), ==, 3 + 1 + 1);
    g_assert_cmpuint(dict_uint(v, "latched"), ==, 2 + 1);
    g_assert_cmpuint(dict_uint(v, "replayed"), ==, 2);
    g_assert_cmpuint(dict_uint(v, "coalesced"), ==, 1);
    g_assert_cmpuint(dict_uint(v, "dropped"), ==, 0);
    g_assert_cmpuint(dict_uint(dev, "route-commits"), ==, 0);
    qobject_unref(rsp);
    g_assert_cmpuint(sink_total(&t), ==, 3 + 1 + 1);

    /*
     * MSI-X off: msix-testdev's raises reach no eventfd, and the vectors
     * keep their consumer (the MSI-X core tells notifiers nothing of a
     * disable)
     */
    msix_flags(&t, 0, PCI_MSIX_FLAGS_ENABLE);
    raise_vector(&t, 2);
    dev = query_td0(&t, &rsp);
    g_assert_cmpstr(qdict_get_str(dev, "mode"), ==, "intx");
    check_counters(check_vector(dev, 2, "userspace", false, false),
                   3, 0, 0, 3);
    qobject_unref(rsp);
    testdev_stop(&t);
}

/* The HMP command's output has @want lines that contain @what */
static void check_hmp_lines(QTestState *qts, const char *cmd,
                            const char *what, unsigned want)
{
    g_autofree char *out = qtest_hmp(qts, "%s", cmd);
    g_auto(GStrv) lines = g_strsplit(out, "\n", 0);
    unsigned i, n = 0;

    g_test_message("%s:", cmd);
    g_test_message("%s", out);
    for (i = 0; lines[i]; i++) {
        n += strstr(lines[i], what) != NULL;
    }
    g_assert_cmpuint(n, ==, want);
}

/*
 * Which devices the query lists, the ranges it takes, and the errors it
 * gives for bad arguments, after which the VM runs on
 */
static void test_query_arguments(void)
{
    QDict *rsp, *dev;
    QList *list;
    TestDev t;

    testdev_start(&t, "-device msix-testdev,id=plain,addr=5.0",
                  "id=td0,eventfd=on,vectors=8");
    msix_setup(&t);

    /* Only the device with eventfds, and all its vectors */
    list = query_msix(t.qts, NULL, -1, -1, &rsp);
    g_assert_cmpuint(qlist_size(list), ==, 1);
    dev = list_nth(list, 0);
    g_assert_cmpstr(qdict_get_str(dev, "id"), ==, "td0");
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 8);
    qobject_unref(rsp);

    /* By QOM path, a range */
    list = query_msix(t.qts, "/machine/peripheral/td0", 2, 3, &rsp);
    dev = list_nth(list, 0);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 3);
    g_assert_cmpuint(qdict_get_int(list_nth(qdict_get_qlist(dev,
                     "vector-list"), 0), "vector"), ==, 2);
    g_assert_cmpuint(qdict_get_int(list_nth(qdict_get_qlist(dev,
                     "vector-list"), 2), "vector"), ==, 4);
    qobject_unref(rsp);

    /* The last vector alone; the first alone */
    list = query_msix(t.qts, "td0", 7, -1, &rsp);
    dev = list_nth(list, 0);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 1);
    g_assert_cmpuint(qdict_get_int(list_nth(qdict_get_qlist(dev,
                     "vector-list"), 0), "vector"), ==, 7);
    qobject_unref(rsp);
    list = query_msix(t.qts, "td0", -1, 1, &rsp);
    dev = list_nth(list, 0);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 1);
    vec_of(dev, 0);
    qobject_unref(rsp);

    /* Without a device, each device shows what it has of the range */
    list = query_msix(t.qts, NULL, 6, 5, &rsp);
    dev = list_nth(list, 0);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 2);
    qobject_unref(rsp);
    list = query_msix(t.qts, NULL, 100, -1, &rsp);
    dev = list_nth(list, 0);
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "vector-list")), ==, 0);
    g_assert_cmpuint(dict_uint(qdict_get_qdict(dev, "totals"),
                                    "delivered"), ==, 0);
    qobject_unref(rsp);

    query_msix_error(t.qts, "{'device': 'nope'}", "DeviceNotFound",
                     "Device 'nope' not found");
    query_msix_error(t.qts, "{'device': '/machine/peripheral/nope'}",
                     "DeviceNotFound", "not found");
    query_msix_error(t.qts, "{'device': 'plain'}", "GenericError",
                     "Device 'plain' has no eventfd-backed MSI or MSI-X "
                     "vectors");
    query_msix_error(t.qts, "{'device': 'td0', 'first': 8}", "GenericError",
                     "Device 'td0' has vectors 0 to 7; 'first' is 8");
    query_msix_error(t.qts, "{'device': 'td0', 'first': 4294967295}",
                     "GenericError", "'first' is 4294967295");
    query_msix_error(t.qts, "{'device': 'td0', 'first': 6, 'count': 3}",
                     "GenericError", "'first' + 'count' is 9");
    query_msix_error(t.qts, "{'device': 'td0', 'first': 1, "
                     "'count': 4294967295}",
                     "GenericError", "'first' + 'count' is 4294967296");
    query_msix_error(t.qts, "{'device': 'td0', 'count': 0}", "GenericError",
                     "'count' must be at least 1");
    query_msix_error(t.qts, "{'first': -1}", "GenericError", "first");
    query_msix_error(t.qts, "{'device': 'td0', 'bogus': 1}", "GenericError",
                     "bogus");

    /* HMP: a header, the totals and one line per vector in use */
    raise_vector(&t, 3);
    wait_slot(&t, 3, 1);
    check_hmp_lines(t.qts, "info msix td0", "td0 (msix-testdev", 1);
    check_hmp_lines(t.qts, "info msix td0", " userspace ", 8);
    check_hmp_lines(t.qts, "info msix td0", "delivered 1 ", 2);
    check_hmp_lines(t.qts, "info msix", "/machine/peripheral/td0", 1);
    check_hmp_lines(t.qts, "info msix nope", "Device 'nope' not found", 1);
    check_hmp_lines(t.qts, "info msix plain", "no eventfd-backed", 1);

    /* The VM runs on */
    raise_vector(&t, 3);
    wait_slot(&t, 3, 2);
    testdev_stop(&t);
}

#define FAKE_REFUSAL "fake KVM: no MSI route left: No space left on device"

/* @ev is about @device's @vector, for @reason (NULL: it has none) */
static void check_vector_event(QDict *ev, const char *device,
                               unsigned vector, const char *reason)
{
    QDict *data = qdict_get_qdict(ev, "data");
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s",
                                            device);

    g_test_message("%s: %s vector %" PRId64 "%s%s",
                   qdict_get_str(ev, "event"), qdict_get_str(data, "device"),
                   qdict_get_int(data, "vector"), reason ? ": " : "",
                   reason ? qdict_get_str(data, "reason") : "");
    g_assert_cmpstr(qdict_get_str(data, "device"), ==, device);
    g_assert_cmpstr(qdict_get_str(data, "qom-path"), ==, path);
    g_assert_cmpuint(qdict_get_int(data, "vector"), ==, vector);
    if (reason) {
        g_assert_cmpstr(qdict_get_str(data, "reason"), ==, reason);
    } else {
        g_assert_false(qdict_haskey(data, "reason"));
    }
    qobject_unref(ev);
}

/* Wait for the next @event: from td0, about @vector */
static void wait_vector_event(QTestState *qts, const char *event,
                              unsigned vector, const char *reason)
{
    check_vector_event(qtest_qmp_eventwait_ref(qts, event), "td0", vector,
                       reason);
}

/*
 * td1 (2 vectors, 1 fake route) unmasks both vectors and enables MSI-X:
 * its vector 1 falls back.  The event must be there at once, whatever
 * td0's events wait for: the rate limit is per device.  A QMP command
 * after the write collects the events sent before its reply.
 */
static void check_other_device_not_throttled(TestDev *t)
{
    QPCIDevice *dev = qpci_device_find(&t->gbus.bus, QPCI_DEVFN(5, 0));
    uint8_t cap;
    uint32_t table;
    QPCIBar bar;
    QDict *ev;

    g_assert_nonnull(dev);
    qpci_device_enable(dev);
    cap = qpci_find_capability(dev, PCI_CAP_ID_MSIX, 0);
    table = qpci_config_readl(dev, cap + PCI_MSIX_TABLE);
    bar = qpci_iomap(dev, table & PCI_MSIX_TABLE_BIR, NULL);
    qpci_io_writel(dev, bar, (table & PCI_MSIX_TABLE_OFFSET) +
                   PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    qpci_io_writel(dev, bar, (table & PCI_MSIX_TABLE_OFFSET) +
                   PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    qpci_config_writew(dev, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE);
    qtest_qmp_assert_success(t->qts, "{'execute': 'query-status'}");
    ev = qtest_qmp_event_ref(t->qts, "MSIX_VECTOR_FALLBACK");
    g_assert_nonnull(ev);
    check_vector_event(ev, "td1", 1, FAKE_REFUSAL);
    g_free(dev);
}

/* The monitor's event rate limit, in the virtual time of qtest */
#define EVENT_RATE_NS (1000 * 1000 * 1000)


/*
 * A fake in-kernel irqchip with four routes: of the eight vectors the
 * guest unmasks, four go to KVM and four fall back to QEMU.  The first
 * fallback is an event at once; the monitor merges the next three into
 * the last one, sent once the rate limit's second has passed (another
 * device's fallback is not held back meanwhile); the query's counters
 * keep all four.  After a reset, with vectors 0-3
 * masked, 4-7 find routes and go back to KVM: the same again, with the
 * restore event.
 */
static void test_query_fallback_events(void)
{
    QDict *rsp, *dev, *v;
    TestDev t;
    unsigned i;

    testdev_start(&t, "-device msix-testdev,id=td1,addr=5.0,eventfd=on,"
                  "vectors=2,x-fake-kvm-routes=1",
                  "id=td0,eventfd=on,vectors=8,x-fake-kvm-routes=4");
    msix_setup(&t);
    wait_vector_event(t.qts, "MSIX_VECTOR_FALLBACK", 4, FAKE_REFUSAL);
    check_other_device_not_throttled(&t);
    qtest_clock_step(t.qts, EVENT_RATE_NS);
    wait_vector_event(t.qts, "MSIX_VECTOR_FALLBACK", 7, FAKE_REFUSAL);

    dev = query_td0(&t, &rsp);
    for (i = 0; i < 8; i++) {
        v = check_vector(dev, i, i < 4 ? "bypass" : "userspace", false,
                         false);
        g_assert_cmpuint(counter_of(v, "fallbacks"), ==, i >= 4);
        g_assert_cmpuint(counter_of(v, "failures"), ==, i >= 4);
        g_assert_cmpuint(counter_of(v, "irqfd-attaches"), ==, i < 4);
        g_assert_cmpint(qdict_haskey(v, "virq"), ==, i < 4);
        if (i < 4) {
            g_assert_cmpint(qdict_get_int(v, "virq"), ==, i);
        }
    }
    v = qdict_get_qdict(dev, "totals");
    g_assert_cmpuint(dict_uint(v, "fallbacks"), ==, 4);
    g_assert_cmpuint(dict_uint(v, "restores"), ==, 0);
    g_assert_cmpuint(dict_uint(dev, "route-commits"), ==, 4);
    qobject_unref(rsp);

    /* KVM's vector costs QEMU nothing; QEMU's is counted */
    raise_vector(&t, 1);
    wait_slot(&t, 1, 1);
    raise_vector(&t, 5);
    wait_slot(&t, 5, 1);
    dev = query_td0(&t, &rsp);
    g_assert_cmpuint(counter_of(vec_of(dev, 1), "delivered"), ==, 0);
    g_assert_cmpuint(counter_of(vec_of(dev, 5), "delivered"), ==, 1);
    qobject_unref(rsp);

    qtest_qmp_assert_success(t.qts, "{'execute': 'system_reset'}");
    qtest_qmp_eventwait(t.qts, "RESET");
    testdev_remap(&t);
    /*
     * Masked before the others are unmasked: the MSI-X core's function
     * mask is stale after a reset (false until the next write of the
     * capability), so an unmask reaches the vector notifier even before
     * MSI-X is enabled again.
     */
    for (i = 0; i < 4; i++) {
        vector_mask(&t, i, true);
    }
    for (i = 4; i < 8; i++) {
        vector_program(&t, i);
    }
    msix_flags(&t, PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL);
    wait_vector_event(t.qts, "MSIX_VECTOR_RESTORED", 4, NULL);
    qtest_clock_step(t.qts, EVENT_RATE_NS);
    wait_vector_event(t.qts, "MSIX_VECTOR_RESTORED", 7, NULL);

    dev = query_td0(&t, &rsp);
    for (i = 0; i < 8; i++) {
        v = check_vector(dev, i, i < 4 ? "masked" : "bypass", i < 4, false);
        g_assert_cmpuint(counter_of(v, "restores"), ==, i >= 4);
    }
    v = qdict_get_qdict(dev, "totals");
    g_assert_cmpuint(dict_uint(v, "fallbacks"), ==, 4);
    g_assert_cmpuint(dict_uint(v, "restores"), ==, 4);
    qobject_unref(rsp);
    raise_vector(&t, 6);
    wait_slot(&t, 6, 1);
    testdev_stop(&t);
}

/*
 * virtio-pci devices are listed too, with the state and KVM route of
 * each vector but only the device's fallback count, and forgotten when
 * they are unplugged
 */
static void test_query_virtio(void)
{
    QDict *rsp, *dev, *v;
    QTestState *qts;
    QList *list;
    unsigned i;

    qts = qtest_init("-M virt,gic-version=3 -cpu max -nodefaults "
                     "-device pcie-root-port,id=rp0,chassis=1,addr=5.0");
    qtest_qmp_device_add(qts, "virtio-net-pci", "vn0",
                         "{'bus': 'rp0', 'romfile': '', 'vectors': 5}");
    list = query_msix(qts, NULL, -1, -1, &rsp);
    g_assert_cmpuint(qlist_size(list), ==, 1);
    dev = list_nth(list, 0);
    g_assert_cmpstr(qdict_get_str(dev, "id"), ==, "vn0");
    g_assert_cmpstr(qdict_get_str(dev, "driver"), ==, "virtio-net-pci");
    g_assert_cmpstr(qdict_get_str(dev, "mode"), ==, "intx");
    g_assert_false(qdict_get_bool(dev, "engine"));
    g_assert_cmpuint(qdict_get_int(dev, "vectors"), ==, 5);
    g_assert_cmpuint(dict_uint(qdict_get_qdict(dev, "totals"), "fallbacks"),
                     ==, 0);
    for (i = 0; i < 5; i++) {
        v = vec_of(dev, i);
        g_assert_cmpstr(qdict_get_str(v, "state"), ==, "unused");
        g_assert_false(qdict_haskey(v, "counters"));
        g_assert_false(qdict_haskey(v, "virq"));
    }
    qobject_unref(rsp);
    query_msix_error(qts, "{'device': 'vn0', 'first': 5}", "GenericError",
                     "Device 'vn0' has vectors 0 to 4; 'first' is 5");
    check_hmp_lines(qts, "info msix vn0", "vn0 (virtio-net-pci", 1);

    qtest_qmp_device_del(qts, "vn0");
    list = query_msix(qts, NULL, -1, -1, &rsp);
    g_assert_cmpuint(qlist_size(list), ==, 0);
    qobject_unref(rsp);
    query_msix_error(qts, "{'device': 'vn0'}", "DeviceNotFound",
                     "Device 'vn0' not found");
    qtest_quit(qts);
}

static const LayoutCase layout_cases[] = {
    { "own-bar", MSIX_TESTDEV_LAYOUT_OWN_BAR, 16 },
    { "own-bar", MSIX_TESTDEV_LAYOUT_OWN_BAR, 300 },
    { "shared-bar", MSIX_TESTDEV_LAYOUT_SHARED_BAR, 16 },
    { "shared-bar", MSIX_TESTDEV_LAYOUT_SHARED_BAR, 300 },
    { "same-page", MSIX_TESTDEV_LAYOUT_SAME_PAGE, 16 },
    { "same-page", MSIX_TESTDEV_LAYOUT_SAME_PAGE, 2048 },
    { "split-bar", MSIX_TESTDEV_LAYOUT_SPLIT_BAR, 1 },
    { "split-bar", MSIX_TESTDEV_LAYOUT_SPLIT_BAR, 300 },
};

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);

    for (i = 0; i < ARRAY_SIZE(layout_cases); i++) {
        g_autofree char *path = g_strdup_printf("/msix-testdev/layout/%s/%u",
                                                layout_cases[i].name,
                                                layout_cases[i].vectors);
        qtest_add_data_func(path, &layout_cases[i], test_layout);
    }
    qtest_add_func("/msix-testdev/mask/vector", test_mask_vector);
    qtest_add_func("/msix-testdev/mask/function", test_mask_function);
    qtest_add_func("/msix-testdev/all-vectors", test_all_vectors);
    qtest_add_func("/msix-testdev/disabled", test_disabled);
    qtest_add_func("/msix-testdev/eventfd", test_eventfd);
    qtest_add_func("/msix-testdev/eventfd-migration", test_migration_eventfd);
    qtest_add_func("/msix-testdev/eventfd-reset", test_eventfd_reset);
    qtest_add_func("/msix-testdev/eventfd-hotplug", test_eventfd_hotplug);
    qtest_add_func("/msix-testdev/auto", test_auto);
    qtest_add_func("/msix-testdev/msi-intx", test_msi);
    qtest_add_func("/msix-testdev/migration", test_migration);
    qtest_add_func("/msix-testdev/bad-input", test_bad_input);
    qtest_add_func("/msix-testdev/bad-properties", test_bad_properties);
    qtest_add_func("/msix-testdev/query/counters", test_query_counters);
    qtest_add_func("/msix-testdev/query/arguments", test_query_arguments);
    qtest_add_func("/msix-testdev/query/fallback-events",
                   test_query_fallback_events);
    qtest_add_func("/msix-testdev/query/virtio", test_query_virtio);

    return g_test_run();
}
